import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as zlib from 'node:zlib';
import { histogram } from '../../src/train/diagnostics';
import { formatLogTick, formatTick, niceTicks } from '../../src/report/plot-axes';
import { variableHistogramPlot } from '../../src/report/plot-histogram';
import { colorAt, imageGrid } from '../../src/report/plot-image-grid';
import { lineLayout, linePlot, type LinePlotOptions } from '../../src/report/plot-line';
import { crc32, decodePng, encodePng } from '../../src/report/png';
import { Raster, type Rgb } from '../../src/report/raster';
import { textWidth } from '../../src/report/raster-font';

const RED: Rgb = [220, 0, 0];
const BLUE: Rgb = [0, 0, 220];

function rowsWith(r: Raster, x: number, c: Rgb): number[] {
  const out: number[] = [];
  for (let y = 0; y < r.height; y++) {
    const p = r.pixel(x, y);
    if (p[0] === c[0] && p[1] === c[1] && p[2] === c[2]) out.push(y);
  }
  return out;
}

test('a PNG round-trips pixel for pixel, with a valid signature, header and chunk CRCs', () => {
  const r = new Raster(37, 23);
  let seed = 1;
  for (let i = 0; i < r.data.length; i += 4) {
    seed = (seed * 16807) % 2147483647;
    r.data.set([seed & 255, (seed >> 8) & 255, (seed >> 16) & 255, 255], i);
  }
  r.fillRect(0, 10, 37, 5, [9, 9, 9]); // identical rows take the Up filter
  const png = encodePng(r.width, r.height, r.data);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(png.toString('ascii', 12, 16), 'IHDR');
  assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20), png[24], png[25]], [37, 23, 8, 6]);
  // PNG's CRC is zlib's CRC-32: check it against node's own.
  assert.equal((crc32(Buffer.from('123456789')) ^ 0xffffffff) >>> 0, 0xcbf43926);
  assert.equal((crc32(png.subarray(37, 60)) ^ 0xffffffff) >>> 0, zlib.crc32(png.subarray(37, 60)));
  const back = decodePng(png);
  assert.deepEqual([back.width, back.height], [37, 23]);
  assert.deepEqual(Buffer.from(back.rgba), Buffer.from(r.data));
  const bad = Buffer.from(png);
  bad[30] = (bad[30] as number) ^ 1;
  assert.throws(() => decodePng(bad), /chunk IHDR at byte 8 has CRC/);
});

test('ticks fall on 1-2-5 steps and labels carry just the decimals they need', () => {
  const round = (vs: number[]): number[] => vs.map((v) => +v.toFixed(10));
  assert.deepEqual(round(niceTicks(0, 1, 5)), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(round(niceTicks(0.13, 0.87, 4)), [0.2, 0.4, 0.6, 0.8]);
  assert.deepEqual(niceTicks(1, 3, 4), [1, 1.5, 2, 2.5, 3]);
  assert.deepEqual(
    [
      formatTick(0.4, 0.2),
      formatTick(2, 0.5),
      formatTick(12000, 5000),
      formatTick(0.00003, 0.00001),
      formatTick(250, 50),
    ],
    ['0.4', '2.0', '12k', '3.0e-5', '250'],
  );
  assert.deepEqual(
    [formatLogTick(0), formatLogTick(-0.5), formatLogTick(-2.6), formatLogTick(2.5)],
    ['1', '0.32', '0.0025', '320'],
  );
});

test('a line plot draws each series where its values lie, a higher series above a lower one', () => {
  const xs = Array.from({ length: 11 }, (_, i) => i);
  const options: LinePlotOptions = {
    title: 'Loss',
    xLabel: 'epoch',
    yLabel: 'loss',
    series: [
      { name: 'high', color: RED, points: xs.map((x) => [x, 2]) },
      { name: 'low', color: BLUE, points: xs.map((x) => [x, 1]), markers: true },
    ],
    width: 400,
    height: 300,
  };
  const r = linePlot(options);
  const plot = lineLayout(options).plot;
  const mid = Math.round(plot.x + plot.w / 3);
  const red = rowsWith(r, mid, RED);
  const blue = rowsWith(r, mid, BLUE);
  assert.ok(red.length >= 1 && red.length <= 3, `red rows ${red}`);
  assert.ok(blue.length >= 1 && blue.length <= 3, `blue rows ${blue}`);
  assert.ok((red[0] as number) < (blue[0] as number), 'higher values are drawn higher');
  // The y axis starts 5% of the data range below 1, so y = 1 and y = 2 sit 0.05 and 1.05 ranges up.
  const fromBottom = (row: number): number => plot.y + plot.h - row;
  const ratio = fromBottom(blue[0] as number) / fromBottom(red[0] as number);
  assert.ok(Math.abs(ratio - 0.05 / 1.05) < 0.02, `blue/red height ratio ${ratio}`);
  const empty = linePlot({
    title: 'LR',
    xLabel: 'epoch',
    yLabel: 'lr',
    series: [{ name: 'lr', color: RED, points: [] }],
    width: 400,
    height: 300,
  });
  const emptyPlot = lineLayout({
    title: 'LR',
    xLabel: 'epoch',
    yLabel: 'lr',
    series: [{ name: 'lr', color: RED, points: [] }],
    width: 400,
    height: 300,
  }).plot;
  const grey = rowsWith(
    empty,
    Math.round(emptyPlot.x + emptyPlot.w / 2 - textWidth('no data recorded', 2) / 2 + 2),
    [150, 150, 150],
  );
  assert.ok(grey.length > 0, 'an empty plot says so');
});

test('histogram ridges draw every epoch and the image grid maps values through its colormap', () => {
  const frames = [1, 2, 3].map((e) => ({
    label: `epoch ${e}`,
    h: histogram(
      Float32Array.from({ length: 500 }, (_, i) => Math.sin(i) * e),
      20,
    ),
  }));
  const r = variableHistogramPlot('dense_0/kernel', frames, frames);
  assert.deepEqual([r.width, r.height], [1000, 380]);
  const front: Rgb = [0, 90, 160];
  let frontPixels = 0;
  for (let y = 0; y < r.height; y++)
    for (let x = 0; x < r.width; x++) if (r.pixel(x, y).join() === front.join()) frontPixels++;
  assert.ok(frontPixels > 50, `the latest epoch's outline is drawn (${frontPixels} px)`);

  assert.deepEqual(colorAt('diverging', 0.5), [255, 255, 255]);
  assert.deepEqual(colorAt('diverging', 0), [33, 102, 172]);
  assert.deepEqual(colorAt('diverging', 1), [178, 24, 43]);
  assert.deepEqual(colorAt('viridis', 1), [253, 231, 37]);
  const g = imageGrid({
    title: 'filters',
    images: [{ width: 2, height: 1, values: Float32Array.from([-1, 1]) }],
    cell: 10,
    columns: 1,
    colormap: 'diverging',
    sharedScale: true,
  });
  assert.deepEqual(g.pixel(15, 45), [33, 102, 172]);
  assert.deepEqual(g.pixel(25, 45), [178, 24, 43]);
});
