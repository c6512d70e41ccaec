"""The policy generation benchmark (issue 11): synthetic profiles, measurements, --policy-gen."""

from __future__ import annotations

import json

import pytest

from sysphase.bench import __main__ as bench_main
from sysphase.bench import policygen
from sysphase.bench.policygen import GenResult, measure, render_series, synthetic_profile
from sysphase.model import profile_codec
from sysphase.policy.generate import MAX_PHASES


def test_synthetic_profile_has_the_phases_asked_for_and_is_a_valid_profile() -> None:
    profile = synthetic_profile(25)
    main, thread, fork, helper = profile.processes
    assert [p.name for p in main.phases] == ["start", *(f"m{k}" for k in range(1, 25))]
    assert {p.trigger for p in main.phases[1:]} == {"marker"}
    assert [p.name for p in thread.phases] == ["start", "m10", "m20"]
    assert fork.phases[0].name == "m12" and helper.executable == "/usr/bin/helper"
    assert profile_codec.decode(profile_codec.encode(profile), "synthetic") == profile
    with pytest.raises(ValueError):
        synthetic_profile(0)


def test_measure_generates_or_times_the_refusal() -> None:
    done = measure(10)
    assert done.refused is None and done.phases == 10
    assert (done.policy_bytes or 0) > done.profile_bytes > 0
    assert done.provenance_entries and done.allowed_entries
    refused = measure(MAX_PHASES + 1)
    assert refused.refused is not None and f"{MAX_PHASES + 1} phases" in refused.refused
    assert refused.policy_bytes is None and refused.generate_s is not None
    raised = measure(MAX_PHASES + 1, max_phases=MAX_PHASES + 1)
    assert raised.refused is None


def _gen(phases: int, refused: str | None = None) -> GenResult:
    if refused is not None:
        return GenResult(phases, 2048, 0.0002, None, None, None, None, 20480, 20480, 20480, refused)
    return GenResult(phases, 2048, 0.25, 0.5, 10240, 1234, 567, 20480, 30720, 102400)


def test_render_series_has_a_row_per_measurement() -> None:
    text = render_series([_gen(10), _gen(3000), _gen(3000, "too many phases")], 256)
    lines = text.splitlines()
    assert lines[2].split() == ["10", "2.0", "0.250", "10.0", "0.500", "10.0", "1,234", "100.0"]
    assert lines[3].split()[0] == "3,000"
    assert "refused (limit 256): too many phases" in lines[4]
    data = policygen.to_json([_gen(10)], 256)
    assert data["max_phases"] == 256
    assert data["series"] == [
        {
            "phases": 10,
            "profile_bytes": 2048,
            "generate_s": 0.25,
            "encode_s": 0.5,
            "policy_bytes": 10240,
            "provenance_entries": 1234,
            "allowed_entries": 567,
            "rss_before_kib": 20480,
            "peak_generate_kib": 30720,
            "peak_rss_kib": 102400,
            "refused": None,
        }
    ]
    json.dumps(data)


def test_policy_gen_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    parser = bench_main.build_parser()
    args = parser.parse_args(["--policy-gen", "--phases", "10,1_000"])
    assert args.policy_gen and args.phases == (10, 1000)
    assert parser.parse_args(["--policy-gen"]).phases is None
    for bad in (["--phases", "0"], ["--phases", ","], ["--phases", "x"]):
        with pytest.raises(SystemExit) as exc:
            parser.parse_args(bad)
        assert exc.value.code == 2
        assert capsys.readouterr().err.count("\n") == 1
    assert bench_main.main(["--phases", "10"]) == 2
    assert "--policy-gen" in capsys.readouterr().err
