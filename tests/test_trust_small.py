"""The smaller findings of issue 16: each input gets an outcome that names its real cause."""

from __future__ import annotations

import pytest

from gptstudio.cli import main
from gptstudio.core.errors import ConfigError
from gptstudio.core.sampling import SamplingConfig


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_eval_max_batches_below_one_is_a_usage_error(value, capsys):
    with pytest.raises(SystemExit) as refused:
        main(["eval", "--run", "anywhere", "--max-batches", value])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert f"--max-batches: takes a whole number of batches, 1 or more, not '{value}'" in err


def test_a_huge_temperature_is_refused_with_the_limit_stated():
    with pytest.raises(ConfigError, match="a positive number below 1e6"):
        SamplingConfig(temperature=1e30)
    with pytest.raises(ConfigError, match="below 1e6"):
        SamplingConfig(temperature=float("nan"))
    assert SamplingConfig(temperature=999_999.0).temperature == 999_999.0
