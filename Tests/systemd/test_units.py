"""The units pass systemd's own checks."""
import os
import pathlib
import re
import subprocess

from binaries import REPO_ROOT as REPO, need_tool as need


def _units_with_binary(tmp_path: pathlib.Path, daemon_binary: str, subdir: str = "") -> pathlib.Path:
    # verify checks that ExecStart= exists: point it at the binary just built.
    out = tmp_path / "units"
    out.mkdir()
    for unit in (REPO / "systemd" / subdir).glob("mio-daemon.*"):
        text = unit.read_text().replace("/usr/local/bin/mio-daemon", daemon_binary)
        (out / unit.name).write_text(text)
    return out


def test_system_units_verify(tmp_path, daemon_binary):
    need("systemd-analyze")
    units = _units_with_binary(tmp_path, daemon_binary)
    result = subprocess.run(["systemd-analyze", "verify", str(units / "mio-daemon.socket"), str(units / "mio-daemon.service")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_user_units_verify(tmp_path, daemon_binary):
    need("systemd-analyze")
    units = _units_with_binary(tmp_path, daemon_binary, "user")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))  # the user manager resolves %t from it
    result = subprocess.run(["systemd-analyze", "--user", "verify", str(units / "mio-daemon.socket"), str(units / "mio-daemon.service")],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_security_exposure_at_most_2(tmp_path, daemon_binary):
    need("systemd-analyze")
    units = _units_with_binary(tmp_path, daemon_binary)
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(units / "mio-daemon.service")],
                            capture_output=True, text=True)
    match = re.search(r"Overall exposure level for mio-daemon\.service: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    score = float(match.group(1))
    print(f"systemd-analyze security exposure: {score}")
    assert score <= 2.0


def test_sysusers_file_declares_the_mio_group():
    text = (REPO / "systemd" / "mio-daemon.sysusers").read_text()
    assert re.search(r"^u mio ", text, re.M), "the mio user (and its group) is declared"
    socket = (REPO / "systemd" / "mio-daemon.socket").read_text()
    assert "SocketGroup=mio" in socket and "SocketMode=0660" in socket
    service = (REPO / "systemd" / "mio-daemon.service").read_text()
    assert "--allow-group mio" in service
    assert not re.search(r"^PrivateUsers=", service, re.M), "peer uids would read as nobody"


def test_make_install_places_every_file(tmp_path, daemon_binary):
    dest = tmp_path / "root"
    bin_dir = os.path.dirname(daemon_binary)
    result = subprocess.run(["make", "-s", "install-files", f"DESTDIR={dest}", "PREFIX=/usr", f"BIN_DIR={bin_dir}"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for path in ["usr/bin/mio-daemon", "usr/lib/systemd/system/mio-daemon.socket", "usr/lib/systemd/system/mio-daemon.service",
                 "usr/lib/systemd/user/mio-daemon.socket", "usr/lib/systemd/user/mio-daemon.service",
                 "usr/lib/sysusers.d/mio-daemon.conf", "usr/share/doc/mio-daemon/protocol.md"]:
        assert (dest / path).is_file(), path
    assert os.access(dest / "usr/bin/mio-daemon", os.X_OK)
    service = (dest / "usr/lib/systemd/system/mio-daemon.service").read_text()
    assert "ExecStart=/usr/bin/mio-daemon " in service, "ExecStart follows PREFIX"
    assert not list(REPO.glob("*.tmp")), "no scratch files left in the tree"
