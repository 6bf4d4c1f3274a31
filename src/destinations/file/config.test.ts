import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { schemaChecker } from "../../config/schema.ts";
import { DEFAULT_DELIVERY } from "../delivery.ts";
import { defaultFileDestination, FileDestinationSchema, resolveFileDestination } from "./config.ts";

const MIB = 1024 * 1024;
const check = schemaChecker(FileDestinationSchema);

describe("file destination config", () => {
  it("resolves a relative path against the base directory and names the destination after it", () => {
    expect(resolveFileDestination({ type: "file", path: "logs/audit.log" }, "/etc/vigil")).toEqual({
      type: "file",
      name: "file:/etc/vigil/logs/audit.log",
      path: "/etc/vigil/logs/audit.log",
      format: "native",
      delivery: DEFAULT_DELIVERY,
    });
  });

  it("keeps an absolute path and an explicit name", () => {
    expect(resolveFileDestination({ type: "file", name: "local", path: "/var/log/a.log" }, "/etc")).toEqual({
      type: "file",
      name: "local",
      path: "/var/log/a.log",
      format: "native",
      delivery: DEFAULT_DELIVERY,
    });
  });

  it("keeps the format", () => {
    expect(resolveFileDestination({ type: "file", path: "/a", format: "cloudevents" }, "/").format).toBe(
      "cloudevents",
    );
  });

  it("does not rotate without rotation, and rotates with the defaults given rotation: {}", () => {
    expect(resolveFileDestination({ type: "file", path: "/a" }, "/").rotation).toBeUndefined();
    expect(resolveFileDestination({ type: "file", path: "/a", rotation: {} }, "/").rotation).toEqual({
      maxSizeBytes: 100 * MIB,
      maxFiles: 10,
      compress: false,
    });
  });

  it("converts max_size_mb to bytes, fractions included", () => {
    const rotation = { max_size_mb: 0.5, max_files: 3, compress: true };
    expect(resolveFileDestination({ type: "file", path: "/a", rotation }, "/").rotation).toEqual({
      maxSizeBytes: 524288,
      maxFiles: 3,
      compress: true,
    });
  });

  it("defaults to audit.log in the data directory", () => {
    expect(defaultFileDestination("/data")).toEqual({
      type: "file",
      name: "file:/data/audit.log",
      path: "/data/audit.log",
      format: "native",
      delivery: DEFAULT_DELIVERY,
    });
    expect(defaultFileDestination("rel").path).toBe(resolve("rel/audit.log"));
  });

  it("requires path and checks every rotation key", () => {
    expect(
      check({ type: "file", rotation: { max_size_mb: 0, max_files: 1.5, compress: "yes", keep: 1 } }),
    ).toEqual([
      { path: ["path"], message: "is required" },
      { path: ["rotation", "keep"], message: "unknown key (known: max_size_mb, max_files, compress)" },
      { path: ["rotation", "max_size_mb"], message: "must be greater than 0" },
      { path: ["rotation", "max_files"], message: "must be an integer" },
      { path: ["rotation", "compress"], message: "must be true or false" },
    ]);
  });

  it("accepts spec/000's file destination", () => {
    const raw = {
      type: "file",
      path: "/var/log/kafka-backup/audit.log",
      rotation: { max_size_mb: 100, max_files: 10, compress: true },
    };
    expect(check(raw)).toEqual([]);
  });
});
