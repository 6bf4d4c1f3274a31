/**
 * protect.ts at every version of the six APIs it guards: a request naming a protected topic and another one is
 * split (the other kept, in a request that encodes), and the answer built for the refused entries encodes at that
 * version with TOPIC_AUTHORIZATION_FAILED where the broker's own answer for it would be.
 */
import { describe, expect, it } from "vitest";
import { defaults, elementOf, guards, split, TOPIC_AUTHORIZATION_FAILED } from "./protect.ts";
import { APIS, decodeResponse, encodeRequest, encodeResponse } from "./protocol/index.ts";

type Json = Record<string, unknown>;
const AUDIT = "vigil-audit";
const OTHER = "orders";

/** A request of `apiKey` at `version` touching AUDIT and OTHER (every other field at its default). */
function request(apiKey: number, version: number): Json {
  const api = APIS.get(apiKey);
  if (!api) throw new Error(`no API ${apiKey}`);
  const body = defaults(api.request.fields, version);
  const entry = (list: string, fields: Json) => ({
    ...defaults(elementOf(api.request.fields, [list]), version),
    ...fields,
  });
  switch (apiKey) {
    case 0:
      body.topicData = [AUDIT, OTHER].map((name) =>
        entry("topicData", {
          ...(version < 13
            ? { name }
            : { topicId: name === AUDIT ? "AUDITAUDITAUDITAUDITAA" : "OTHEROTHEROTHEROTHEROA" }),
          partitionData: [
            { ...defaults(elementOf(api.request.fields, ["topicData", "partitionData"]), version), index: 0 },
          ],
        }),
      );
      body.acks = -1;
      break;
    case 20:
      if (version < 6) body.topicNames = [AUDIT, OTHER];
      else body.topics = [AUDIT, OTHER].map((name) => entry("topics", { name }));
      break;
    case 37:
      body.topics = [AUDIT, OTHER].map((name) => entry("topics", { name, count: 3 }));
      break;
    case 21:
      body.topics = [AUDIT, OTHER].map((name) =>
        entry("topics", { name, partitions: [{ partitionIndex: 0, offset: 5n }] }),
      );
      break;
    default:
      body.resources = [AUDIT, OTHER].map((name) =>
        entry("resources", { resourceType: 2, resourceName: name }),
      );
  }
  return body;
}

const ids = new Map([
  ["AUDITAUDITAUDITAUDITAA", AUDIT],
  ["OTHEROTHEROTHEROTHEROA", OTHER],
]);

describe("protected audit topics", () => {
  for (const key of [0, 20, 37, 21, 33, 44]) {
    const api = APIS.get(key);
    if (!api) throw new Error(`no API ${key}`);
    it(`${api.name}: refuses the audit topic's entries and keeps the rest, at every version`, () => {
      expect(guards(key)).toBe(true);
      for (let v = api.minVersion; v <= api.maxVersion; v++) {
        const header = { apiKey: key, apiVersion: v, correlationId: 1, clientId: "t" };
        const r = split(
          api,
          v,
          request(key, v),
          (t) => t === AUDIT,
          (id) => ids.get(id),
        );
        expect(r?.topics, `v${v}`).toEqual([AUDIT]);
        // What is forwarded still encodes, without the audit topic.
        const kept = r?.kept as Json;
        expect(() => encodeRequest(header, kept)).not.toThrow();
        expect(JSON.stringify(kept, (_k, x) => (typeof x === "bigint" ? String(x) : x))).not.toContain(AUDIT);
        // Nothing forwarded: the proxy's own answer encodes and says 29 for the audit topic.
        const alone = r?.answer(undefined) as Json;
        const frame = encodeResponse(key, v, 1, alone);
        const { body } = decodeResponse(key, v, frame.subarray(4));
        const codes = JSON.stringify(body, (_k, x) => (typeof x === "bigint" ? String(x) : x));
        expect(codes, `v${v}`).toContain(`"errorCode":${TOPIC_AUTHORIZATION_FAILED}`);
      }
    });
  }

  it("leaves requests about other topics alone", () => {
    const api = APIS.get(0);
    if (!api) throw new Error("no Produce");
    const body = request(0, 9);
    body.topicData = (body.topicData as Json[]).filter((t) => t.name === OTHER);
    expect(
      split(
        api,
        9,
        body,
        (t) => t === AUDIT,
        () => undefined,
      ),
    ).toBeUndefined();
    expect(guards(1)).toBe(false);
  });
});
