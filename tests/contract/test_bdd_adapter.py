"""fixtures/bdd.py against the installed pytest-bdd: a small Gherkin suite is collected in a
separate pytest, and what the adapter says of it is checked. A pytest-bdd release that moves the
internals the adapter reads fails here, by function, before lint or a run goes wrong."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FEATURE = """\
Feature: Adapter
  Scenario: Plain
    Given a thing
    When I poke it
    Then nothing happens

  Scenario Outline: Outlined <mode>
    Given a thing
    When I poke it <mode>

    Examples:
      | mode |
      | hard |
      | soft |
"""

SUITE = """\
from pytest_bdd import given, parsers, scenarios, when

scenarios("adapter.feature")


@given("a thing")
def thing():
    pass


@when("I poke it")
def poke():
    pass


@when(parsers.parse("I poke it {how}"))
def poke_how(how):
    pass


def test_not_a_scenario():
    pass
"""

CONFTEST = """\
import json
import os
from pathlib import Path

from fixtures.bdd import example_of, find_step_fixture, is_scenario, scenario_of, step_definitions

SEEN = {"generated": {}}


def pytest_generate_tests(metafunc):
    SEEN["generated"][metafunc.definition.name] = is_scenario(metafunc.function)


def pytest_collection_modifyitems(session, config, items):
    SEEN["items"] = {}
    for item in items:
        tmpl = scenario_of(item)
        SEEN["items"][item.name] = tmpl and {
            "scenario": tmpl.name, "feature": tmpl.feature.name, "example": example_of(item),
            "undefined": [s.name for s in tmpl.steps if find_step_fixture(item, s) is None]}
        if tmpl is None:
            assert example_of(item) == {}
    SEEN["steps"] = sorted([d.kind, d.phrase, d.function.__name__] for d in step_definitions())
    Path(os.environ["ADAPTER_OUT"]).write_text(json.dumps(SEEN))
"""


def test_the_adapter_reads_scenarios_examples_and_step_definitions(tmp_path):
    (tmp_path / "adapter.feature").write_text(FEATURE)
    (tmp_path / "test_adapter.py").write_text(SUITE)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    out = tmp_path / "seen.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ADAPTER_OUT": str(out)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "-p", "no:xdist", str(tmp_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seen = json.loads(out.read_text())

    assert seen["generated"] == {"test_plain": True, "test_outlined_mode": True, "test_not_a_scenario": False}

    items = seen["items"]
    assert items.pop("test_not_a_scenario") is None
    plain, hard, soft = items.values()
    assert plain == {"scenario": "Plain", "feature": "Adapter", "example": {},
                     "undefined": ["nothing happens"]}
    assert hard == {"scenario": "Outlined <mode>", "feature": "Adapter", "example": {"mode": "hard"},
                    "undefined": []}
    assert soft["example"] == {"mode": "soft"}

    assert seen["steps"] == [["given", "a thing", "thing"], ["when", "I poke it", "poke"],
                             ["when", "I poke it {how}", "poke_how"]]
