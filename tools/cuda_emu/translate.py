#!/usr/bin/env python3
"""Turns a CUDA source (.cu or .cuh) into C++ for the CPU emulator (tools/cuda_emu).

    translate.py IN OUT

Three rewrites, each kept on its original line (a #line directive maps errors and __LINE__ back
to IN):
  kernel<<<grid, block, smem, stream>>>(args)
      -> ::emu::launch("kernel", kernel, dim3(grid), dim3(block), smem, stream, args)
  __shared__ __align__(16) float As[2][16][68];
      -> a per-block slot: fresh storage for each block, filled with 0xFF bytes, in redzones
  extern __shared__ float smem[];
      -> the launch's dynamic shared memory
and `__launch_bounds__(N)` gains a check at the top of the kernel body that the launch has at
most N threads per block (on a GPU a larger launch fails). Comments and string literals are
left alone. OUT is only rewritten when its text changes.
"""
import os
import re
import sys


def mask(src):
    """src with comments and string/char literals blanked (same length, newlines kept)."""
    out = list(src)
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith('//', i):
            j = src.find('\n', i)
            j = n if j < 0 else j
            for k in range(i, j):
                out[k] = ' '
            i = j
        elif src.startswith('/*', i):
            j = src.find('*/', i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if out[k] != '\n':
                    out[k] = ' '
            i = j
        elif c in '"\'':
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == '\\' else 1
            for k in range(i + 1, min(j, n)):
                if out[k] != '\n':
                    out[k] = ' '
            i = j + 1
        else:
            i += 1
    return ''.join(out)


def match_forward(text, i, open_ch, close_ch):
    """Index just past the bracket closing the one at text[i]."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == open_ch:
            depth += 1
        elif text[j] == close_ch:
            depth -= 1
            if depth == 0:
                return j + 1
    raise SyntaxError('unbalanced %s at offset %d' % (open_ch, i))


def split_top(s):
    """Splits at commas outside (), [], {}."""
    parts, depth, cur = [], 0, ''
    for ch in s:
        if ch in '([{':
            depth += 1
        elif ch in ')]}':
            depth -= 1
        if ch == ',' and depth == 0:
            parts.append(cur)
            cur = ''
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def callee_start(m, end):
    """Start of the kernel expression that ends at m[end-1] (a name, with template arguments)."""
    i = end
    while True:
        while i > 0 and m[i - 1].isspace():
            i -= 1
        if i > 0 and m[i - 1] == '>':
            depth = 0
            while i > 0:
                i -= 1
                if m[i] == '>':
                    depth += 1
                elif m[i] == '<':
                    depth -= 1
                    if depth == 0:
                        break
            while i > 0 and m[i - 1].isspace():
                i -= 1
        j = i
        while i > 0 and (m[i - 1].isalnum() or m[i - 1] == '_'):
            i -= 1
        if i == j:
            raise SyntaxError('cannot find the kernel before <<< at offset %d' % end)
        if i >= 2 and m[i - 2:i] == '::':
            i -= 2
            continue
        return i


def where(src, i):
    return src.count('\n', 0, i) + 1


def translate(src, path):
    m = mask(src)
    edits = []  # (start, end, replacement)

    for launch in re.finditer(r'<<<', m):
        start = callee_start(m, launch.start())
        name = ' '.join(src[start:launch.start()].split())
        close = m.find('>>>', launch.end())
        if close < 0:
            raise SyntaxError('%s:%d: <<< without >>>' % (path, where(src, launch.start())))
        cfg = split_top(src[launch.end():close])
        if len(cfg) < 2 or len(cfg) > 4:
            raise SyntaxError('%s:%d: a launch needs 2 to 4 configuration values' % (path, where(src, start)))
        while len(cfg) < 4:
            cfg.append('0' if len(cfg) == 2 else 'nullptr')
        paren = close + 3
        while paren < len(m) and m[paren].isspace():
            paren += 1
        if paren >= len(m) or m[paren] != '(':
            raise SyntaxError('%s:%d: expected ( after >>>' % (path, where(src, start)))
        after = paren + 1
        while after < len(m) and m[after].isspace():
            after += 1
        no_args = after < len(m) and m[after] == ')'
        head = '::emu::launch("%s", %s, dim3(%s), dim3(%s), %s, %s%s' % (
            name.replace('"', '\\"'), name, cfg[0], cfg[1], cfg[2], cfg[3], '' if no_args else ', ')
        # keep the launch's newlines so that later lines keep their numbers
        head += '\n' * src.count('\n', start, paren + 1)
        edits.append((start, paren + 1, head))

    for sh in re.finditer(r'\b__shared__\b', m):
        line_start = m.rfind('\n', 0, sh.start()) + 1
        prefix = m[line_start:sh.start()]
        is_extern = re.search(r'\bextern\s*$', prefix) is not None
        decl_start = sh.start() if not is_extern else line_start + prefix.rfind('extern')
        end = m.find(';', sh.end())
        decl = src[sh.end():end]
        align = '0'
        a = re.search(r'__align__\s*\(\s*([^)]*)\)', decl)
        if a:
            align = a.group(1).strip()
            decl = decl[:a.start()] + decl[a.end():]
        decl = re.sub(r'\bstatic\b', '', decl)
        if ',' in mask(decl).split('[')[0] or '=' in decl:
            raise SyntaxError('%s:%d: one __shared__ variable per declaration, without initialiser' %
                              (path, where(src, sh.start())))
        d = re.match(r'\s*(.*?)\s*\b(\w+)\s*((?:\[[^\]]*\]\s*)*)$', decl, re.S)
        if not d:
            raise SyntaxError('%s:%d: cannot read this __shared__ declaration' % (path, where(src, sh.start())))
        ctype, name, dims = ' '.join(d.group(1).split()), d.group(2), ''.join(d.group(3).split())
        line = where(src, sh.start())
        if is_extern:
            if dims != '[]':
                raise SyntaxError('%s:%d: extern __shared__ must be an array of unknown size' % (path, line))
            rep = '%s* %s = static_cast<%s*>(::emu::dynamic_shared())' % (ctype, name, ctype)
        else:
            slot = 'emu_shared_slot_%s_%d' % (name, line)
            rep = ('static ::emu::SharedSlot %s("%s", "%s", %d); auto& %s = ::emu::shared_var<%s%s, %s>(%s)' %
                   (slot, name, os.path.basename(path), line, name, ctype, dims, align, slot))
        rep += '\n' * src.count('\n', decl_start, end)
        edits.append((decl_start, end, rep))

    for lb in re.finditer(r'\b__launch_bounds__\s*\(', m):
        args_end = match_forward(m, lb.end() - 1, '(', ')')
        bound = split_top(src[lb.end():args_end - 1])[0]
        params = m.find('(', args_end)
        name = re.search(r'(\w+)\s*$', m[args_end:params]).group(1)
        body = m.find('{', match_forward(m, params, '(', ')'))
        edits.append((body + 1, body + 1, ' ::emu::check_launch_bounds(%s, "%s");' % (bound, name)))

    for bad in re.finditer(r'\b__constant__\b', m):
        raise SyntaxError('%s:%d: __constant__ memory is not modelled by the emulator' % (path, where(src, bad.start())))

    out = src
    for start, end, rep in sorted(edits, reverse=True):
        out = out[:start] + rep + out[end:]
    return '#line 1 "%s"\n' % os.path.abspath(path) + out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src_path, out_path = sys.argv[1], sys.argv[2]
    try:
        text = translate(open(src_path).read(), src_path)
    except SyntaxError as e:
        sys.exit('translate.py: %s' % e)
    if os.path.exists(out_path) and open(out_path).read() == text:
        return
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    tmp = out_path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, out_path)


if __name__ == '__main__':
    main()
