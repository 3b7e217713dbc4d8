#!/usr/bin/env python3
"""The per-kernel table of docs/cuda.md, from the launch log of an emulated run.

    kernel_table.py LOG [SOURCE_ROOT]

LOG is what MINIDL_EMU_LOG collected (scripts/emu.sh leaves it in <build>/emu-kernels.tsv):
one line per kernel per process, tab-separated: kernel, launches, blocks, threads, largest grid
x, y, z, largest block, seconds, the process's command line. Prints, for every __global__
function of SOURCE_ROOT/kernels (default: this checkout), its file, launches, blocks, largest
grid and the tests that ran it, then the kernels that did not run. The emulator's own test
kernels (tools/cuda_emu/tests) are left out.
"""
import collections
import os
import re
import sys


def kernels_in(root):
    """{kernel name: file} for every __global__ function under root/kernels."""
    found = {}
    for dirpath, _, files in os.walk(os.path.join(root, 'kernels')):
        for f in files:
            if not f.endswith(('.cu', '.cuh')):
                continue
            path = os.path.join(dirpath, f)
            text = open(path).read()
            for m in re.finditer(r'__global__\s+void\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?(\w+)\s*\(', text):
                found[m.group(1)] = os.path.relpath(path, root)
    return found


def test_name(cmdline):
    """What a process ran: the test's name for the test binary (CTest passes it as the
    argument), else the program with its --device flag (train_resnet started by a test)."""
    parts = cmdline.split(' ', 1)
    prog, args = os.path.basename(parts[0]), parts[1] if len(parts) > 1 else ''
    if prog == 'minidl_tests' and args:
        return args.replace('\\,', ',')
    device = re.search(r'--device \S+', args)
    return prog + (' ' + device.group(0) if device else '')


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    root = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), '..', '..')
    defined = kernels_in(root)
    runs = collections.defaultdict(lambda: {'launches': 0, 'blocks': 0, 'grid': [0, 0, 0], 'tests': set()})
    for line in open(sys.argv[1]):
        f = line.rstrip('\n').split('\t')
        if len(f) < 10:
            continue
        base = f[0].split('<')[0].strip()
        if base not in defined or os.path.basename(f[9].split(' ')[0]) == 'cuda_emu_tests':
            continue  # the emulator's own test kernels
        r = runs[f[0]]
        r['launches'] += int(f[1])
        r['blocks'] += int(f[2])
        r['grid'] = [max(a, int(b)) for a, b in zip(r['grid'], f[4:7])]
        r['tests'].add(test_name(f[9]))
    print('| kernel | file | launches | blocks | largest grid | tests that ran it |')
    print('| --- | --- | ---: | ---: | --- | --- |')
    for name in sorted(runs, key=lambda n: (defined[n.split('<')[0].strip()], n)):
        r = runs[name]
        tests = sorted(r['tests'])
        shown = '; '.join(tests[:2]) + (' and %d more' % (len(tests) - 2) if len(tests) > 2 else '')
        print('| `%s` | %s | %d | %d | %d x %d x %d | %s |' % (
            name, defined[name.split('<')[0].strip()], r['launches'], r['blocks'], *r['grid'], shown))
    ran = {n.split('<')[0].strip() for n in runs}
    missing = sorted(n for n in defined if n not in ran)
    print()
    print('Not run: ' + (', '.join('`%s` (%s)' % (n, defined[n]) for n in missing) if missing else 'none') + '.')


if __name__ == '__main__':
    main()
