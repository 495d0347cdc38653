export { writeReport, type ReportOptions, type ReportResult } from './write-report';
export { RunRecorder } from './run-recorder';
export { unpackTiming, toTensorBoard, PROGRESS_INTERVAL_MS, SINK_INTERVAL_MS, type RunRecorderOptions, type StepInfo, type StepSpan, type DiagnosticsInput, type EpochInput, type ProgressSink } from './recorder-inputs';
export { RUN_FILES, readRunFiles, readJsonLines, type RunFiles, type MetricsLine, type StepLine, type DiagnosticsLine, type HistogramLine, type TimingLine, type RankTiming } from './run-files';
export { encodePng, decodePng, type DecodedPng } from './png';
export { Raster, type Rgb } from './raster';
export { linePlot, type Series, type LinePlotOptions } from './plot-line';
export { variableHistogramPlot, drawHistogramRidges, type HistogramFrame } from './plot-histogram';
export { imageGrid, colorAt, type GridImage, type Colormap } from './plot-image-grid';
