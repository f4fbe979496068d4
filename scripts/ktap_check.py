#!/usr/bin/env python3
"""Check that the kernel's own KTAP parser reads a suite run as run_all.sh
reported it.

    ktap_check.py KUNIT_PY CONSOLE_LOG

Takes tests/run_all.sh's output out of the VM's console (from its
"KTAP version 1" line to its IMP2-KTAP-TOTALS line, without the kernel's
own messages), has tools/testing/kunit/kunit.py parse it to JSON, and
compares each top-level test's status with run_all.sh's own result line.
Exit 0 if they agree on every script, 1 otherwise.
"""
import json
import re
import subprocess
import sys
import tempfile

KERNEL_LINE = re.compile(r'^\[ *\d+\.\d+\]')
RESULT = re.compile(r'^(not ok|ok) \d+ (\S+)(?: # (SKIP))?')
STATUS = {'ok': 'PASS', 'not ok': 'FAIL'}


def run_all_part(console):
    lines, inside = [], False
    with open(console, errors='replace') as f:
        for line in f:
            line = line.rstrip('\r\n')
            if not inside:
                inside = line == 'KTAP version 1'
            if not inside or KERNEL_LINE.match(line):
                continue
            if line.startswith('IMP2-KTAP-TOTALS'):
                break
            lines.append(line)
    return lines


def main():
    kunit_py, console = sys.argv[1:3]
    lines = run_all_part(console)
    ours = {}
    for line in lines:
        m = RESULT.match(line)
        if m:
            ours[m.group(2)] = 'SKIP' if m.group(3) else STATUS[m.group(1)]
    if not ours:
        print(f'no run_all.sh results in {console}')
        return 1
    with tempfile.NamedTemporaryFile('w', suffix='.ktap') as ktap, \
            tempfile.NamedTemporaryFile('r', suffix='.json') as out:
        ktap.write('\n'.join(lines) + '\n')
        ktap.flush()
        # kunit.py exits 1 when a test failed: its JSON is what counts.
        subprocess.run([sys.executable, kunit_py, 'parse', '--json=' + out.name, ktap.name],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        try:
            theirs = {c['name']: c['status'] for c in json.load(out)['test_cases']}
        except (ValueError, KeyError) as e:
            print(f'kunit.py gave no usable JSON: {e}')
            return 1
    if theirs != ours:
        for name in sorted(set(ours) | set(theirs)):
            if ours.get(name) != theirs.get(name):
                print(f'  {name}: run_all.sh {ours.get(name)}, kunit.py {theirs.get(name)}')
        return 1
    print(f'kunit.py parse agrees on all {len(ours)} scripts')
    return 0


if __name__ == '__main__':
    sys.exit(main())
