"""`make install-files PREFIX=… BIN_DIR=<the binaries under test>` puts
both binaries, both man pages, the three completions and the docs under
PREFIX, writes nothing into the source tree, and what it installs works."""
import os
import shutil
import subprocess

import pytest

from binaries import REPO_ROOT, daemon_binary, mioctl_binary
from mioctl_cli import mioctl


def git_status():
    return subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--ignored", "--untracked-files=all"],
                          capture_output=True, text=True).stdout


def test_install_files_under_prefix(tmp_path, daemon):
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    bin_dir = os.path.dirname(mioctl_binary())
    if os.path.dirname(daemon_binary()) != bin_dir:
        pytest.skip("install-files takes one BIN_DIR holding both binaries")
    prefix = tmp_path / "prefix"
    before = git_status()
    r = subprocess.run(["make", "-s", "-C", str(REPO_ROOT), "install-files", f"PREFIX={prefix}", f"BIN_DIR={bin_dir}"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert git_status() == before, "install-files wrote into the source tree"
    files = sorted(str(p.relative_to(prefix)) for p in prefix.rglob("*") if p.is_file())
    for expected in ["bin/mio-daemon", "bin/mioctl", "share/man/man8/mio-daemon.8", "share/man/man1/mioctl.1",
                     "share/bash-completion/completions/mioctl", "share/zsh/site-functions/_mioctl",
                     "share/fish/vendor_completions.d/mioctl.fish", "share/doc/mio-daemon/protocol.md",
                     "share/doc/mio-daemon/recipes.md", "share/doc/mio-daemon/README.md"]:
        assert expected in files, (expected, files)
    assert os.access(prefix / "bin/mioctl", os.X_OK) and os.access(prefix / "bin/mio-daemon", os.X_OK)
    # The installed mioctl talks to the daemon; the pages are the binaries' own help.
    r = subprocess.run([str(prefix / "bin/mioctl"), "ping"], env=daemon.client_env, capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r
    page1 = (prefix / "share/man/man1/mioctl.1").read_text()
    assert page1.startswith(".TH MIOCTL 1") and "Exit status: 0 success" in page1 and ".SS wait" in page1
    page8 = (prefix / "share/man/man8/mio-daemon.8").read_text()
    assert page8.startswith(".TH MIO-DAEMON 8") and "max-connections-per-uid" in page8
    if shutil.which("man"):
        shown = subprocess.run(["man", "-l", str(prefix / "share/man/man1/mioctl.1")], capture_output=True, text=True,
                               env=dict(os.environ, MANPAGER="cat", PAGER="cat"), timeout=30)
        assert shown.returncode == 0 and "SYNOPSIS" in shown.stdout, shown.stderr
    assert "complete" in (prefix / "share/bash-completion/completions/mioctl").read_text()
    assert "#compdef mioctl" in (prefix / "share/zsh/site-functions/_mioctl").read_text()
    assert "complete -c 'mioctl'" in (prefix / "share/fish/vendor_completions.d/mioctl.fish").read_text()
    if shutil.which("bash"):
        r = subprocess.run(["bash", "-c", f"source {prefix}/share/bash-completion/completions/mioctl && complete -p mioctl"],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0 and "mioctl" in r.stdout, r
