#!/usr/bin/env python3
"""Writes a man page (roff, man(7) macros) for a swift-argument-parser
program from its `--experimental-dump-help` JSON.

Usage: scripts/make-man-page.py BINARY SECTION > NAME.SECTION

Why not swift-argument-parser's generate-manual plugin: it builds the
whole package again, in release by default, inside SwiftPM's plugin
sandbox; `make install-files BIN_DIR=…` installs binaries already built
and must not compile anything. The binary describes itself, so the page
is always the installed binary's own help.
"""
import json
import subprocess
import sys


def esc(text):
    """Roff-safe text: backslashes, and a leading dot or quote on a line."""
    out = []
    for line in (text or "").replace("\\", "\\e").split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        out.append(line)
    return "\n".join(out)


def flag_names(arg):
    names = []
    for n in arg.get("names", []):
        names.append(("-" if n["kind"] == "short" else "--") + n["name"])
    return ", ".join(names)


def arguments(cmd):
    lines = []
    for arg in cmd.get("arguments", []):
        if not arg.get("shouldDisplay", True):
            continue
        if arg["kind"] == "positional":
            head = "\\fI" + esc(arg.get("valueName", "arg")) + "\\fR" + ("..." if arg.get("isRepeating") else "")
        else:
            head = "\\fB" + esc(flag_names(arg)) + "\\fR"
            if arg["kind"] == "option":
                head += " \\fI" + esc(arg.get("valueName", "value")) + "\\fR"
        lines += [".TP", head, esc(arg.get("abstract", "")) + (
            " (default: " + esc(arg["defaultValue"]) + ")" if arg.get("defaultValue") else "")]
    return lines


def synopsis(cmd, prefix):
    parts = []
    for arg in cmd.get("arguments", []):
        if not arg.get("shouldDisplay", True) or arg.get("names") and arg["names"][0]["name"] in ("help", "version"):
            continue
        if arg["kind"] == "positional":
            text = "\\fI" + esc(arg.get("valueName", "arg")) + "\\fR"
        else:
            name = arg["preferredName"]
            text = "\\fB" + ("-" if name["kind"] == "short" else "--") + esc(name["name"]) + "\\fR"
            if arg["kind"] == "option":
                text += " \\fI" + esc(arg.get("valueName", "value")) + "\\fR"
        if arg.get("isOptional"):
            text = "[" + text + "]"
        parts.append(text)
    return ".B " + prefix + "\n" + " ".join(parts)


def main():
    binary, section = sys.argv[1], sys.argv[2]
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    root = json.loads(subprocess.run([binary, "--experimental-dump-help"], capture_output=True, text=True,
                                     check=True).stdout)["command"]
    name = root["commandName"]
    out = [f'.TH {name.upper()} {section} "" "{esc(version)}" "mio-daemon"', ".SH NAME",
           f"{esc(name)} \\- {esc(root.get('abstract', ''))}", ".SH SYNOPSIS"]
    subs = [s for s in root.get("subcommands", []) if s.get("shouldDisplay", True) and s["commandName"] != "help"]
    out.append(synopsis(root, name) + (" \\fIcommand\\fR ..." if subs else ""))
    out += [".SH DESCRIPTION", esc(root.get("abstract", "")), ".PP", esc(root.get("discussion", ""))]
    out += [".SH OPTIONS"] + arguments(root)
    if subs:
        out.append(".SH COMMANDS")
        for sub in subs:
            out += [".SS " + esc(sub["commandName"]), synopsis(sub, f"{name} {sub['commandName']}"), ".PP",
                    esc(sub.get("abstract", ""))]
            if sub.get("discussion"):
                out += [".PP", ".nf", esc(sub["discussion"]), ".fi"]
            out += [".RS"] + arguments(sub) + [".RE"]
    out += [".SH SEE ALSO", "mioctl(1), mio-daemon(8), /usr/share/doc/mio-daemon/protocol.md" if False else
            ("mio-daemon(8)" if name == "mioctl" else "mioctl(1)") + ", the protocol in share/doc/mio-daemon/protocol.md"]
    print("\n".join(out))


if __name__ == "__main__":
    main()
