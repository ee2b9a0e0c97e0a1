"""NodeParameters is the PARAMETERS table as one typed object (no ROS process needed)."""
from dataclasses import fields
from types import SimpleNamespace
from typing import get_origin, get_type_hints

from ros_nodes.parameters import PARAMETERS, NodeParameters


def test_node_parameters_have_exactly_the_table_names_and_the_types_of_their_defaults():
    assert [f.name for f in fields(NodeParameters)] == list(PARAMETERS)
    hints = get_type_hints(NodeParameters)
    for name, spec in PARAMETERS.items():
        assert type(spec.default) is (get_origin(hints[name]) or hints[name]), (name, hints[name], spec.default)


def test_node_parameters_are_read_from_a_node_each_as_its_type():
    values = {name: spec.default for name, spec in PARAMETERS.items()}
    assert NodeParameters.from_values(values) == NodeParameters(**values)

    given = {**values, "num_envs": 3, "fps": 5, "model_dir": "/models/tiny", "providers": ("CPUExecutionProvider",)}
    node = SimpleNamespace(get_parameter=lambda name: SimpleNamespace(value=given[name]))
    params = NodeParameters.from_node(node)
    assert params.num_envs == 3 and params.model_dir == "/models/tiny"
    assert params.fps == 5.0 and type(params.fps) is float  # an integer given for a float parameter
    assert params.providers == ["CPUExecutionProvider"]
    assert params.sampling == {"maskgit_steps": None, "temperature": None}  # the defaults: the checkpoint's
