/** Vigil's version: what `vigil --version` prints and encodings name as the producing product (OCSF metadata). */
export const VIGIL_VERSION = "0.1.0";
