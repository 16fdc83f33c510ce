#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Render the latency histograms of a shmq-probe /metrics scrape as SVG.

    curl -s http://127.0.0.1:9750/metrics > scrape.txt
    python3 ebpf/metrics_to_svg.py scrape.txt > histograms.svg
    python3 ebpf/metrics_to_svg.py --text scrape.txt        # the same as ASCII bars

One panel per histogram family (shmq_*_seconds) that has samples, the series
of every queue summed, one bar per log2 bucket (the BPF slots), count and
p50/p99 estimated from the buckets (upper bound of the bucket that holds
the quantile: log2 resolution). Python standard library only.
"""
import argparse
import math
import re
import sys
from collections import OrderedDict

SERIES = re.compile(r'^(shmq_[a-z_]+_seconds)_bucket\{(.*)\}\s+(\S+)$')
LE = re.compile(r'le="([^"]+)"')


def parse(text):
    """{family: OrderedDict(le -> cumulative count summed over series)}."""
    fams = OrderedDict()
    for line in text.splitlines():
        m = SERIES.match(line)
        if not m:
            continue
        le = LE.search(m.group(2))
        if not le:
            continue
        bound = math.inf if le.group(1) == '+Inf' else float(le.group(1))
        cum = fams.setdefault(m.group(1), {})
        cum[bound] = cum.get(bound, 0) + float(m.group(3))
    out = OrderedDict()
    for fam, cum in fams.items():
        bounds = sorted(cum)
        counts, prev = [], 0.0
        for b in bounds:
            counts.append((b, cum[b] - prev))
            prev = cum[b]
        if prev > 0:
            out[fam] = counts
    return out


def human(sec):
    if sec == math.inf:
        return 'inf'
    for unit, f in (('s', 1), ('ms', 1e-3), ('us', 1e-6), ('ns', 1e-9)):
        if sec >= f:
            return '%.3g %s' % (sec / f, unit)
    return '%.3g ns' % (sec / 1e-9)


def quantile(counts, q):
    total = sum(c for _, c in counts)
    acc = 0.0
    for b, c in counts:
        acc += c
        if acc >= q * total:
            return b
    return math.inf


def trim(counts):
    """The buckets from the first to the last non-empty one."""
    idx = [i for i, (_, c) in enumerate(counts) if c > 0]
    return counts[idx[0]:idx[-1] + 1]


def text_out(fams, out):
    for fam, counts in fams.items():
        total = sum(c for _, c in counts)
        out.write('%s  (%d samples, p50 <= %s, p99 <= %s)\n' % (
            fam, total, human(quantile(counts, 0.5)), human(quantile(counts, 0.99))))
        peak = max(c for _, c in counts)
        for b, c in trim(counts):
            bar = '#' * int(round(50 * c / peak)) if peak else ''
            out.write('  < %-9s %8d %s\n' % (human(b), c, bar))
        out.write('\n')


def svg_out(fams, out, title):
    pw, ph, pad = 640, 220, 50
    h = 40 + len(fams) * (ph + 30)
    w = pw + 2 * pad
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'font-family="sans-serif" font-size="11">' % (w, h),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>' % (pad, title)]
    y0 = 40
    for fam, counts in fams.items():
        shown = trim(counts)
        total = sum(c for _, c in counts)
        peak = max(c for _, c in shown)
        o.append('<text x="%d" y="%d" font-size="13">%s — %d samples, p50 &#8804; %s, '
                 'p99 &#8804; %s</text>' % (pad, y0 + 14, fam, total,
                                            human(quantile(counts, 0.5)),
                                            human(quantile(counts, 0.99))))
        top, bottom = y0 + 24, y0 + ph - 30
        bw = pw / max(len(shown), 1)
        o.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' %
                 (pad, bottom, pad + pw, bottom))
        for i, (b, c) in enumerate(shown):
            bh = (bottom - top) * c / peak if peak else 0
            x = pad + i * bw
            o.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#3b7dd8"/>' %
                     (x + 1, bottom - bh, bw - 2, bh))
            if c:
                o.append('<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>' %
                         (x + bw / 2, bottom - bh - 3, c))
            o.append('<text x="%.1f" y="%d" text-anchor="end" transform="rotate(-40 %.1f %d)">'
                     '&lt; %s</text>' % (x + bw / 2, bottom + 12, x + bw / 2, bottom + 12, human(b)))
        y0 += ph + 30
    o.append('</svg>')
    out.write('\n'.join(o) + '\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('scrape', help='a /metrics scrape (file, or - for stdin)')
    ap.add_argument('--text', action='store_true', help='ASCII bars instead of SVG')
    ap.add_argument('--title', default='shmq latency histograms (shmq-probe, log2 buckets)')
    a = ap.parse_args()
    text = sys.stdin.read() if a.scrape == '-' else open(a.scrape).read()
    fams = parse(text)
    if not fams:
        sys.exit('no shmq_*_seconds histogram with samples in %s' % a.scrape)
    if a.text:
        text_out(fams, sys.stdout)
    else:
        svg_out(fams, sys.stdout, a.title)


if __name__ == '__main__':
    main()
