#!/usr/bin/python3
"""Writes test/fixtures/reward/deepscaler-boxed.jsonl: of every DeepScaleR training row that has a
reference solution (the AMC and AIME parts), its id, its gold answer and the end of its solution from
about 200 characters before the last \\boxed / \\fbox. The agreement test extracts the box from that
excerpt and checks it against the gold answer; the problem statements and the rest of the solutions
are left out (see test/fixtures/reward/SOURCES.md).

Run:  /usr/bin/python3 scripts/make-reward-fixtures.py --deepscaler PATH/deepscaler-train.jsonl
where PATH is a copy of the DeepScaleR subset described in test/fixtures/reward/SOURCES.md.
"""
import argparse
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEFORE = 200  # > the 80-character gap across which boxes are joined, plus a short earlier box


def excerpt(solution):
    k = max(solution.rfind("\\boxed"), solution.rfind("\\fbox"))
    if k < 0:
        return None
    start = max(0, k - BEFORE)
    # start at a word boundary, never inside a control word
    while start > 0 and not solution[start - 1].isspace():
        start -= 1
    return solution[start:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deepscaler", required=True, help="deepscaler-train.jsonl (id, answer, solution, source)")
    ap.add_argument("--out", default=os.path.join(ROOT, "test", "fixtures", "reward", "deepscaler-boxed.jsonl"))
    args = ap.parse_args()
    n = 0
    with open(args.deepscaler, encoding="utf-8") as f, open(args.out, "w", encoding="utf-8") as out:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            ex = excerpt(r.get("solution") or "")
            if ex is None:
                continue
            out.write(json.dumps({"id": r["id"], "source": r["source"], "answer": str(r["answer"]), "excerpt": ex}, ensure_ascii=False) + "\n")
            n += 1
    print(f"{n} rows -> {args.out}")


if __name__ == "__main__":
    main()
