"""The environments: vector envs over Gymnasium or EnvPool (vec) and how each episode ended
(outcomes). Knows the config's env section and nothing of algorithms, runs or tracking."""
