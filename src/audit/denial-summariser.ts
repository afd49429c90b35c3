// Renamed to denial-recorder.ts (it exports a recorder); this re-export keeps the node and secret
// modules building until their own move lands. Delete it once nothing imports it.
export { createDenialRecorder, sourceAddressOf, type DenialRecorder, type UnverifiedRefusal } from "./denial-recorder.ts";
