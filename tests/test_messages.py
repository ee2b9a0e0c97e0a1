"""Wording shared by the commands, the node's log and the model card."""
from genie_robotics.cli.messages import sampling_phrase, steps_phrase


def test_step_counts_read_as_english():
    assert steps_phrase(1) == "1 MaskGIT step" and steps_phrase(25) == "25 MaskGIT steps"


def test_a_sampling_phrase_names_the_order_only_where_there_is_one():
    assert sampling_phrase(1, 0.5, "random") == "1 MaskGIT step, temperature 0.5"  # one step keeps every sample
    assert sampling_phrase(2, 0.5, "random") == "2 MaskGIT steps in random order, temperature 0.5"
    assert sampling_phrase(25, 2.0, "confidence") == "25 MaskGIT steps by confidence, temperature 2"
