"""Training lifecycle: data, train, evaluate, predict."""
