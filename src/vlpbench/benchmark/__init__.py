"""The engine: registries, config, encoders, training loop, runner, results, statistics, CLI."""
