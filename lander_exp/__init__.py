"""lander_exp: run, sweep, track and compare RL experiments on Gymnasium's LunarLander."""
