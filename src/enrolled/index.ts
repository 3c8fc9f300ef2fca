// The enrolled/ folder: gallery, settings and activity log, opened, erased and swept together.
export { Enrolled, type EnrolledOptions, type ErasureReport, type SweepReport } from './enrolled.js';
