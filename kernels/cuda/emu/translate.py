"""Rewrites CUDA launches for the CPU emulator: kernel<<<grid, block, smem, stream>>>(args)
becomes emu::launch(kernel, dim3(grid), dim3(block), smem, (void*)(stream), args).
usage: translate.py IN OUT"""
import re
import sys

LAUNCH = re.compile(r'([A-Za-z_][\w:]*(?:<[^<>;]*>)?)\s*<<<(.*?)>>>\(', re.S)


def split_top(s):
    out, depth, cur = [], 0, ''
    for ch in s:
        if ch in '([<':
            depth += 1
        if ch in ')]>':
            depth -= 1
        if ch == ',' and depth == 0:
            out.append(cur)
            cur = ''
        else:
            cur += ch
    out.append(cur)
    return [p.strip() for p in out]


def rewrite(m):
    name, parts = m.group(1), split_top(m.group(2))
    while len(parts) < 4:
        parts.append('0' if len(parts) == 2 else 'nullptr')
    return 'emu::launch(%s, dim3(%s), dim3(%s), %s, (void*)(%s), ' % (name, parts[0], parts[1], parts[2], parts[3])


src = open(sys.argv[1]).read()
open(sys.argv[2], 'w').write(LAUNCH.sub(rewrite, src))
