/**
 * `ringtrain report`, offline: reads a finished run directory (src/record/ wrote it) and renders
 * plots as PNG (own raster, font and encoder) and one HTML page.
 */
export { writeReport, type ReportOptions, type ReportResult } from './write-report';
export { MAX_IMAGES, type FeatureMapRequest } from './report-feature-maps';
export { encodePng, decodePng, type DecodedPng } from './png';
export { Raster, type Rgb } from './raster';
export { linePlot, type Series, type LinePlotOptions } from './plot-line';
export { variableHistogramPlot, drawHistogramRidges, type HistogramFrame } from './plot-histogram';
export { imageGrid, colorAt, type GridImage, type Colormap } from './plot-image-grid';
