"""The one settings schema and where its values come from (``polymagic.setting_schema``,
``polymagic.app.settings``): the sources in order, the trust rule for project files, the
origins every view names, and that the magic's traitlets and the command line's options are
made from the schema."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from polymagic.app.settings import Source, read_settings, trust_project_file
from polymagic.errors import SpecError
from polymagic.setting_schema import SETTINGS, Kind


@pytest.fixture(autouse=True)
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No user settings or trust list but the test's own; no POLYMAGIC_* from outside."""
    for name in list(os.environ):
        if name.startswith("POLYMAGIC_"):
            monkeypatch.delenv(name)
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return config / "polymagic"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A cloned repository's folder with a notebook folder below it."""
    (tmp_path / "repo" / "notebooks").mkdir(parents=True)
    return tmp_path / "repo"


def _pyproject(project: Path, body: str) -> Path:
    path = project / "pyproject.toml"
    path.write_text("[tool.polymagic]\n" + body)
    return path


def test_the_sources_in_order_each_value_with_its_origin(project: Path, user_home: Path) -> None:
    _pyproject(project, 'timeout = 120\nstart-timeout = 60\nshow = "dockerfile"\n')
    user_home.mkdir(parents=True)
    (user_home / "settings.toml").write_text("start_timeout = 90\nstuck_grace = 5\n")
    found = read_settings(project / "notebooks", environ={"POLYMAGIC_STUCK_GRACE": "7"})
    assert (found["timeout"], found.source("timeout")) == (120.0, Source.PROJECT)
    assert found.origin("timeout") == f"{project / 'pyproject.toml'} [tool.polymagic]"
    assert (found["start_timeout"], found.source("start_timeout")) == (90.0, Source.USER_FILE)
    assert (found["stuck_grace"], found.origin("stuck_grace")) == (7.0, "$POLYMAGIC_STUCK_GRACE")
    assert found["show"] == "dockerfile"
    assert (found["keep"], found.source("keep")) == (False, Source.DEFAULT)
    assert [name for name, _ in found.non_default()] == [
        "timeout",
        "start_timeout",
        "stuck_grace",
        "show",
    ]


@pytest.mark.parametrize(
    ("body", "setting"),
    [
        ('executor-image = "evil.example/kaniko:1"\n', "executor_image"),
        ('connections_file = "catalog.yaml"\n', "connections_file"),
        ('namespace = "kube-system"\n', "namespace"),
    ],
    ids=["executor-image", "catalog", "namespace"],
)
def test_an_untrusted_project_file_cannot_steer_credentials(
    project: Path, body: str, setting: str
) -> None:
    path = _pyproject(project, body + "timeout = 99\n")
    found = read_settings(project, environ={})
    assert found.source(setting) is Source.DEFAULT
    assert found[setting] is None
    assert found["timeout"] == 99.0  # a harmless setting still comes from the project
    (warning,) = found.warnings
    assert str(path) in warning
    assert f"`{setting}`" in warning
    assert f"polymagic trust {project}" in warning


def test_a_trusted_project_file_is_read_until_it_changes(project: Path, user_home: Path) -> None:
    path = _pyproject(project, 'executor_image = "ghcr.io/team/kaniko:1"\n')
    trust_project_file(project)
    assert (user_home / "trusted.json").is_file()
    found = read_settings(project, environ={})
    assert (found["executor_image"], found.source("executor_image")) == (
        "ghcr.io/team/kaniko:1",
        Source.PROJECT,
    )
    assert found.warnings == ()
    path.write_text('[tool.polymagic]\nexecutor_image = "evil.example/kaniko:1"\n')
    changed = read_settings(project, environ={})
    assert changed["executor_image"] is None
    assert "not trusted this file" in changed.warnings[0]


def test_the_users_own_places_may_set_every_setting(project: Path, user_home: Path) -> None:
    user_home.mkdir(parents=True)
    (user_home / "settings.toml").write_text('executor_image = "ghcr.io/me/kaniko:2"\n')
    found = read_settings(project, environ={"POLYMAGIC_NAMESPACE": "ml"})
    assert found["executor_image"] == "ghcr.io/me/kaniko:2"
    assert (found["namespace"], found.source("namespace")) == ("ml", Source.ENVIRONMENT)
    assert found.warnings == ()


@pytest.mark.parametrize(
    ("where", "text", "message"),
    [
        ("project", "timout = 1\n", r"has no setting `timout` \(known: namespace, "),
        ("project", "timeout = -1\n", r"`timeout` from .* is -1: expected a positive number"),
        ("project", 'show = "logs"\n', r"`show` from .* expected views .*unknown view `logs`"),
        ("project", "keep = 3\n", r"`keep` from .* is 3: expected true or false"),
        ("env", "soon", r"\$POLYMAGIC_TIMEOUT is 'soon': expected a positive number"),
        ("env", "\x1b[2J", r"\$POLYMAGIC_NAMESPACE is '\\x1b\[2J': expected text"),
        ("user", "[tool]\n", r"settings.toml has no setting `tool`"),
        ("project", "timeout = [", r"cannot read .*pyproject.toml: "),
    ],
    ids=["unknown", "negative", "view", "flag", "env-seconds", "env-control", "user", "toml"],
)
def test_a_bad_value_is_one_error_naming_where_it_came_from(
    project: Path, user_home: Path, where: str, text: str, message: str
) -> None:
    environ = {}
    if where == "project":
        _pyproject(project, text)
    elif where == "user":
        user_home.mkdir(parents=True)
        (user_home / "settings.toml").write_text(text)
    else:
        name = "POLYMAGIC_TIMEOUT" if text == "soon" else "POLYMAGIC_NAMESPACE"
        environ[name] = text
    with pytest.raises(SpecError, match=message):
        read_settings(project, environ=environ)


def test_a_huge_settings_file_is_refused_unread(project: Path) -> None:
    path = project / "pyproject.toml"
    path.write_text("# " + "x" * (2 * 1024 * 1024) + "\n")
    with pytest.raises(SpecError, match=r"larger than 1,048,576 bytes"):
        read_settings(project, environ={})


def test_the_magics_traitlets_are_the_schema() -> None:
    from polymagic.notebook.magics import PolyBuildMagics

    traits = PolyBuildMagics.class_traits(config=True)
    assert set(traits) == {s.name for s in SETTINGS}
    for item in SETTINGS:
        trait = traits[item.name]
        assert trait.default_value == item.default, item.name
        assert item.help[1:] in (trait.help or ""), item.name


def test_the_command_lines_options_name_their_settings() -> None:
    from polymagic.app.arguments import BUILD_OPTIONS, CONNECTIONS, EXECUTOR_OPTIONS

    every = (*BUILD_OPTIONS, *EXECUTOR_OPTIONS.options)
    helps = {o.flags[0]: o.settings.get("help", "") for o in every}
    for item in SETTINGS:
        flag = {
            "connections_file": "--connections",
            "registry_mirror": "--registry-mirror",
            "attest": "--no-attest",
            "sign_key": "--sign",
        }.get(item.name, item.flag)
        if item.name == "show":
            continue  # the magic's own option; the command line shows every view
        text = helps.get(flag) or CONNECTIONS.settings["help"]
        assert f"setting `{item.name}`" in text, flag
        if item.kind is Kind.SECONDS and isinstance(item.default, float):
            assert f"default {item.default:g}" in text, flag


def test_polymagic_trust_records_the_file_the_warning_names(project: Path) -> None:
    from io import StringIO

    from polymagic.cli.main import main

    _pyproject(project, 'connections_file = "team.yaml"\n')
    warning = read_settings(project, environ={}).warnings[0]
    command = warning.split("run `")[1].split("`")[0].split()
    out, err = StringIO(), StringIO()
    assert main(command[1:], out, err) == 0, err.getvalue()
    assert out.getvalue().startswith(f"trusted {project / 'pyproject.toml'} (sha256 ")
    assert read_settings(project, environ={})["connections_file"] == "team.yaml"


def test_trusting_what_is_not_a_project_file_is_refused(project: Path) -> None:
    from io import StringIO

    from polymagic.cli.main import main

    err = StringIO()
    assert main(["trust", str(project / "nothing")], StringIO(), err) == 2
    assert "is not a file: give the project's pyproject.toml or its folder" in err.getvalue()


HOSTILE_CATALOG = """
- name: docker-connection
  kind: registry
  schema: {url: evil.example.com/org}
  secret: {name: prod-cloud-admin, mountPath: /kaniko/.docker}
"""


@pytest.fixture
def cloned(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cloned repository whose pyproject.toml picks the executor image and a catalog that
    mounts another Secret, and hides the views; the operation is the quick start."""
    from tests.data import SEED

    (project / "evil-catalog.yaml").write_text(HOSTILE_CATALOG)
    _pyproject(
        project,
        'executor_image = "evil.example.com/kaniko:latest"\n'
        'connections_file = "evil-catalog.yaml"\nshow = "none"\n',
    )
    (project / "notebooks" / "op.yaml").write_text(SEED)
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(project / "notebooks")
    return project


def _pod_and_map(text: str) -> tuple[dict[str, object], str]:
    import yaml

    documents = [d for d in yaml.safe_load_all(text) if d]
    pod = next(d for d in documents if d["kind"] == "Pod")
    return pod, yaml.safe_dump(documents)


def test_a_cloned_repository_cannot_pick_the_image_or_the_secret_on_the_command_line(
    cloned: Path,
) -> None:
    from io import StringIO

    from polymagic.cli.main import main

    out, err = StringIO(), StringIO()
    assert main(["build", "op.yaml", "--dry-run"], out, err) == 0, err.getvalue()
    _, everything = _pod_and_map(out.getvalue().split("# ---- Kubernetes objects ----\n")[1])
    assert "evil.example.com" not in everything
    assert "prod-cloud-admin" not in everything
    said = err.getvalue()
    for name in ("executor_image", "connections_file"):
        assert f"sets `{name}`, which decides which image or Secret a build uses; ignored" in said
    assert "executor image: ghcr.io/osscontainertools/kaniko:v1.28.3 (polymagic's" in said


def test_a_cloned_repository_cannot_pick_the_image_or_the_secret_in_the_notebook(
    cloned: Path,
) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from tests.data import SEED
    from tests.notebook.shell import new_shell

    shell = new_shell()
    try:
        shell.run_line_magic("load_ext", "polymagic")
        with capture_output() as captured:
            result = shell.run_cell("%%polybuild --dry-run --show manifests\n" + SEED)
        assert result.success, result.error_in_exec
        texts = [o.data["text/plain"] for o in captured.outputs]
        assert "ignored because you have not trusted this file" in texts[0]
        _, everything = _pod_and_map(next(t for t in texts if "kind: Pod" in t))
        assert "evil.example.com" not in everything
        assert "prod-cloud-admin" not in everything
    finally:
        shell.run_line_magic("unload_ext", "polymagic")
        InteractiveShell.clear_instance()


def test_a_trusted_project_image_is_always_shown_with_its_manifests(cloned: Path) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from tests.data import SEED
    from tests.notebook.shell import new_shell

    (cloned / "pyproject.toml").write_text(
        '[tool.polymagic]\nexecutor_image = "ghcr.io/team/kaniko:1"\nshow = "none"\n'
    )
    trust_project_file(cloned)
    shell = new_shell()
    try:
        shell.run_line_magic("load_ext", "polymagic")
        with capture_output() as captured:
            result = shell.run_cell("%%polybuild --dry-run\n" + SEED)
        assert result.success, result.error_in_exec
        texts = [o.data["text/plain"] for o in captured.outputs]
        assert (
            f"executor image: ghcr.io/team/kaniko:1 (from {cloned / 'pyproject.toml'}" in (texts[0])
        )
        # `show = "none"` hides the Dockerfile, not the Pod that runs the project's image.
        pod, _ = _pod_and_map(next(t for t in texts if "kind: Pod" in t))
        assert pod["spec"]["containers"][0]["image"] == "ghcr.io/team/kaniko:1"  # type: ignore[index]
        assert not any(t.startswith("FROM ") or "\nFROM " in t for t in texts)
    finally:
        shell.run_line_magic("unload_ext", "polymagic")
        InteractiveShell.clear_instance()


def test_render_shows_the_pod_the_settings_make(project: Path, user_home: Path) -> None:
    """The review view is what runs: `polymagic render` reads the same settings as `build`."""
    from io import StringIO

    import yaml

    from polymagic.cli.main import main
    from tests.data import SEED

    user_home.mkdir(parents=True)
    (user_home / "settings.toml").write_text('executor_image = "ghcr.io/me/kaniko:v1.28.3"\n')
    op = project / "op.yaml"
    op.write_text(SEED)
    out, err = StringIO(), StringIO()
    assert main(["render", str(op), "--only", "manifests"], out, err) == 0, err.getvalue()
    pod = next(d for d in yaml.safe_load_all(out.getvalue()) if d and d["kind"] == "Pod")
    assert pod["spec"]["containers"][0]["image"] == "ghcr.io/me/kaniko:v1.28.3"
