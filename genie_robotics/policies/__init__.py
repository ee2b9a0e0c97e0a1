"""Policies in the loop: the reach task, pixel policies, a success detector read from frames, and
closed-loop evaluation of one policy in MuJoCo and in the learned simulator."""
