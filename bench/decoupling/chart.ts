/**
 * The decoupling report's chart as a PNG, drawn here with no dependency: bars on an RGB raster,
 * labels in a small 5x7 pixel font, and the PNG container written with node:zlib (deflate and
 * CRC-32). Two panels: payment p99 per phase per system (log scale: the baseline's seconds and
 * paystream's milliseconds on one axis), and payments/s per phase per system.
 */

import { crc32, deflateSync } from 'node:zlib';
import { type PhaseName, phaseFigure, phaseNames, phaseTitles, type SystemResult } from './results.ts';

type Rgb = readonly [number, number, number];

/** 5x7 glyphs, one string of 5 cells per row ('#' = ink). Only what the chart writes. */
const glyphs: Record<string, readonly string[]> = {
  '0': ['.###.', '#...#', '#..##', '#.#.#', '##..#', '#...#', '.###.'],
  '1': ['..#..', '.##..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  '2': ['.###.', '#...#', '....#', '...#.', '..#..', '.#...', '#####'],
  '3': ['####.', '....#', '....#', '.###.', '....#', '....#', '####.'],
  '4': ['...#.', '..##.', '.#.#.', '#..#.', '#####', '...#.', '...#.'],
  '5': ['#####', '#....', '####.', '....#', '....#', '#...#', '.###.'],
  '6': ['..##.', '.#...', '#....', '####.', '#...#', '#...#', '.###.'],
  '7': ['#####', '....#', '...#.', '..#..', '.#...', '.#...', '.#...'],
  '8': ['.###.', '#...#', '#...#', '.###.', '#...#', '#...#', '.###.'],
  '9': ['.###.', '#...#', '#...#', '.####', '....#', '...#.', '.##..'],
  A: ['.###.', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  B: ['####.', '#...#', '#...#', '####.', '#...#', '#...#', '####.'],
  C: ['.###.', '#...#', '#....', '#....', '#....', '#...#', '.###.'],
  D: ['####.', '#...#', '#...#', '#...#', '#...#', '#...#', '####.'],
  E: ['#####', '#....', '#....', '####.', '#....', '#....', '#####'],
  F: ['#####', '#....', '#....', '####.', '#....', '#....', '#....'],
  G: ['.###.', '#...#', '#....', '#.###', '#...#', '#...#', '.####'],
  H: ['#...#', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  I: ['.###.', '..#..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  J: ['..###', '...#.', '...#.', '...#.', '...#.', '#..#.', '.##..'],
  K: ['#...#', '#..#.', '#.#..', '##...', '#.#..', '#..#.', '#...#'],
  L: ['#....', '#....', '#....', '#....', '#....', '#....', '#####'],
  M: ['#...#', '##.##', '#.#.#', '#.#.#', '#...#', '#...#', '#...#'],
  N: ['#...#', '#...#', '##..#', '#.#.#', '#..##', '#...#', '#...#'],
  O: ['.###.', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  P: ['####.', '#...#', '#...#', '####.', '#....', '#....', '#....'],
  Q: ['.###.', '#...#', '#...#', '#...#', '#.#.#', '#..#.', '.##.#'],
  R: ['####.', '#...#', '#...#', '####.', '#.#..', '#..#.', '#...#'],
  S: ['.####', '#....', '#....', '.###.', '....#', '....#', '####.'],
  T: ['#####', '..#..', '..#..', '..#..', '..#..', '..#..', '..#..'],
  U: ['#...#', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  V: ['#...#', '#...#', '#...#', '#...#', '#...#', '.#.#.', '..#..'],
  W: ['#...#', '#...#', '#...#', '#.#.#', '#.#.#', '#.#.#', '.#.#.'],
  X: ['#...#', '#...#', '.#.#.', '..#..', '.#.#.', '#...#', '#...#'],
  Y: ['#...#', '#...#', '.#.#.', '..#..', '..#..', '..#..', '..#..'],
  Z: ['#####', '....#', '...#.', '..#..', '.#...', '#....', '#####'],
  x: ['.....', '.....', '#...#', '.#.#.', '..#..', '.#.#.', '#...#'],
  ' ': ['.....', '.....', '.....', '.....', '.....', '.....', '.....'],
  '.': ['.....', '.....', '.....', '.....', '.....', '.##..', '.##..'],
  ',': ['.....', '.....', '.....', '.....', '.##..', '..#..', '.#...'],
  '-': ['.....', '.....', '.....', '#####', '.....', '.....', '.....'],
  '+': ['.....', '..#..', '..#..', '#####', '..#..', '..#..', '.....'],
  '/': ['....#', '....#', '...#.', '..#..', '.#...', '#....', '#....'],
  '%': ['##..#', '##..#', '...#.', '..#..', '.#...', '#..##', '#..##'],
  ':': ['.....', '.##..', '.##..', '.....', '.##..', '.##..', '.....'],
  '(': ['...#.', '..#..', '.#...', '.#...', '.#...', '..#..', '...#.'],
  ')': ['.#...', '..#..', '...#.', '...#.', '...#.', '..#..', '.#...'],
  '=': ['.....', '.....', '#####', '.....', '#####', '.....', '.....'],
};

class Raster {
  readonly width: number;
  readonly height: number;
  readonly pixels: Uint8Array;

  constructor(width: number, height: number, background: Rgb) {
    this.width = width;
    this.height = height;
    this.pixels = new Uint8Array(width * height * 3);
    this.fill(0, 0, width, height, background);
  }

  fill(x: number, y: number, w: number, h: number, color: Rgb): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let j = y0; j < y1; j += 1) {
      for (let i = x0; i < x1; i += 1) {
        const o = (j * this.width + i) * 3;
        this.pixels[o] = color[0];
        this.pixels[o + 1] = color[1];
        this.pixels[o + 2] = color[2];
      }
    }
  }

  /** Width in pixels of `text` at `scale`. */
  static textWidth(text: string, scale: number): number {
    return text.length * 6 * scale - scale;
  }

  text(
    x: number,
    y: number,
    text: string,
    color: Rgb,
    scale = 2,
    align: 'left' | 'center' | 'right' = 'left',
  ): void {
    const width = Raster.textWidth(text, scale);
    let cx = align === 'left' ? x : align === 'center' ? x - width / 2 : x - width;
    for (const ch of text) {
      const glyph = glyphs[ch] ?? glyphs[ch.toUpperCase()] ?? glyphs[' ']!;
      glyph.forEach((row, j) => {
        for (let i = 0; i < 5; i += 1) {
          if (row[i] === '#') this.fill(cx + i * scale, y + j * scale, scale, scale, color);
        }
      });
      cx += 6 * scale;
    }
  }

  png(): Buffer {
    const raw = Buffer.alloc((this.width * 3 + 1) * this.height);
    for (let j = 0; j < this.height; j += 1) {
      const row = j * (this.width * 3 + 1);
      raw[row] = 0; // filter: none
      raw.set(this.pixels.subarray(j * this.width * 3, (j + 1) * this.width * 3), row + 1);
    }
    const chunk = (type: string, data: Buffer) => {
      const length = Buffer.alloc(4);
      length.writeUInt32BE(data.length);
      const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(body) >>> 0);
      return Buffer.concat([length, body, crc]);
    };
    const header = Buffer.alloc(13);
    header.writeUInt32BE(this.width, 0);
    header.writeUInt32BE(this.height, 4);
    header[8] = 8; // bit depth
    header[9] = 2; // colour type: RGB
    return Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', header),
      chunk('IDAT', deflateSync(raw, { level: 9 })),
      chunk('IEND', Buffer.alloc(0)),
    ]);
  }
}

const white: Rgb = [255, 255, 255];
const ink: Rgb = [30, 30, 30];
const grid: Rgb = [225, 225, 225];
const palette: Record<string, Rgb> = {
  'paystream-embedded': [38, 110, 190],
  'paystream-kafka': [60, 170, 110],
  baseline: [215, 80, 50],
};

function compact(n: number): string {
  if (!Number.isFinite(n)) return 'N/A';
  if (n >= 10_000) return `${Math.round(n / 1000)}K`;
  if (n >= 100) return String(Math.round(n));
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

interface Panel {
  title: string;
  value: (r: SystemResult, phase: PhaseName) => number;
  log: boolean;
}

export function renderChart(results: SystemResult[]): Buffer {
  const width = 1100;
  const panelHeight = 330;
  const top = 70;
  const height = top + 2 * panelHeight + 20;
  const canvas = new Raster(width, height, white);
  canvas.text(width / 2, 14, 'PAYSTREAM VS SYNCHRONOUS BASELINE, BY SMTP PHASE', ink, 3, 'center');
  // Legend.
  let lx = 90;
  for (const r of results) {
    const color = palette[r.system] ?? ink;
    canvas.fill(lx, 46, 16, 16, color);
    canvas.text(lx + 24, 47, r.system.toUpperCase(), ink, 2);
    lx += 24 + Raster.textWidth(r.system, 2) + 40;
  }
  const panels: Panel[] = [
    {
      title: 'PAYMENT P99 LATENCY, MS (LOG SCALE)',
      value: (r, p) => phaseFigure(r, p, (x) => x.load.latency.p99Ms),
      log: true,
    },
    {
      title: 'PAYMENTS/S (SUCCEEDED)',
      value: (r, p) => phaseFigure(r, p, (x) => x.load.perSecond),
      log: false,
    },
  ];
  panels.forEach((panel, index) => {
    const y0 = top + index * panelHeight;
    const plotLeft = 90;
    const plotRight = width - 30;
    const plotTop = y0 + 40;
    const plotBottom = y0 + panelHeight - 50;
    canvas.text(plotLeft, y0 + 12, panel.title, ink, 2);
    const values = results.flatMap((r) => phaseNames.map((p) => panel.value(r, p))).filter(Number.isFinite);
    const max = Math.max(1, ...values);
    let scale: (v: number) => number;
    let ticks: number[];
    if (panel.log) {
      const lo = 0;
      const hi = Math.ceil(Math.log10(max) + 0.05);
      scale = (v) => plotBottom - ((Math.log10(Math.max(1, v)) - lo) / (hi - lo)) * (plotBottom - plotTop);
      ticks = Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i));
    } else {
      const step = 10 ** Math.floor(Math.log10(max));
      const hi = Math.ceil((max * 1.1) / step) * step;
      scale = (v) => plotBottom - (v / hi) * (plotBottom - plotTop);
      ticks = Array.from({ length: Math.round(hi / step) + 1 }, (_, i) => i * step);
    }
    for (const t of ticks) {
      const y = scale(t);
      canvas.fill(plotLeft, y, plotRight - plotLeft, 1, grid);
      canvas.text(plotLeft - 8, y - 7, t >= 10_000 ? `${t / 1000}K` : String(t), ink, 2, 'right');
    }
    canvas.fill(plotLeft, plotBottom, plotRight - plotLeft, 2, ink);
    const groupWidth = (plotRight - plotLeft) / phaseNames.length;
    const barWidth = Math.min(70, (groupWidth - 40) / Math.max(1, results.length));
    phaseNames.forEach((phase, g) => {
      const gx = plotLeft + g * groupWidth + (groupWidth - barWidth * results.length) / 2;
      results.forEach((r, i) => {
        const v = panel.value(r, phase);
        const x = gx + i * barWidth;
        if (!Number.isFinite(v)) {
          // No payment succeeded: there is no latency to draw.
          canvas.text(x + barWidth / 2, plotBottom - 44, 'NONE', palette[r.system] ?? ink, 2, 'center');
          canvas.text(x + barWidth / 2, plotBottom - 26, 'OK', palette[r.system] ?? ink, 2, 'center');
          return;
        }
        const y = scale(v);
        canvas.fill(x + 3, y, barWidth - 6, plotBottom - y, palette[r.system] ?? ink);
        canvas.text(x + barWidth / 2, y - 18, compact(v), ink, 2, 'center');
      });
      canvas.text(
        plotLeft + (g + 0.5) * groupWidth,
        plotBottom + 14,
        phaseTitles[phase].toUpperCase(),
        ink,
        2,
        'center',
      );
    });
  });
  return canvas.png();
}
