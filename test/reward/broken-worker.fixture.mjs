// Test fixture for the pool: a worker that cannot start (as with a broken install).
throw new Error("boom: cannot load the scorer");
