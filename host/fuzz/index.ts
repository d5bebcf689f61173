// shadowfence/fuzz: op tapes, the generator, the oracle, the fuzz runner
// (Node only: worker threads). Public API of host/fuzz/.
export { fuzz, summaryText, summaryJson, Pool } from "./runner.js";
export type { FuzzOptions, FuzzSummary, BugSummary } from "./runner.js";
export { Generator, generateTape, profileHeader, parsePlant, ScenarioTracker, PROFILES, BUG_CLASSES, DEFAULT_PLANT } from "./generator.js";
export type { GeneratorOptions, Profile, BugClass, PlantRates, Scenario } from "./generator.js";
export { encodeTape, decodeTape, validateOps, readOp, emptyOp, opOffsets, describeOp, pruneTape, OpWriter, TapeError,
         OP_NAMES } from "./tape.js";
export type { Tape, TapeHeader, TapeSite, TapeCache, Op } from "./tape.js";
export { TapeExecutor, replay, chunks, bugType } from "./exec.js";
export type { Finding, ReplayResult } from "./exec.js";
export { Oracle, quarantineWindow } from "./oracle.js";
export type { OracleFacts, Disagreement } from "./oracle.js";
export { checkStream, checkTape, checkCmdline } from "./check.js";
export { minimise } from "./minimise.js";
export { kfenceStudy, studyText } from "./study.js";
export { makeReference, encodeReference, decodeReference, isReference, referenceTape, replayReference } from "./reference.js";
export type { TapeReference } from "./reference.js";
export { startCampaign, campaignWorker, campaignStatus, watchCampaign, statusText, campaignReport, deleteCampaign, fleetStudyText, wilson,
         CampaignError } from "./campaign/campaign.js";
export type { CampaignMeta, CampaignStartOptions, CampaignWorkerOptions, CampaignWorkerHandle, CampaignStatus, CampaignReportOptions,
              CampaignReport, StudyInterval } from "./campaign/campaign.js";
