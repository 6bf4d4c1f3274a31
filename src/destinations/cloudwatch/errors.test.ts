import { describe, expect, it } from "vitest";
import { type CallContext, cloudWatchError } from "./errors.ts";

const ctx: CallContext = {
  operation: "PutLogEvents",
  resource: "log stream s of log group /g (us-east-1)",
  secrets: ["s3cr3tKey", "AKIDSECRETID"],
};

/** A service exception as the SDK throws it. */
function answer(name: string, status: number, message = "", fault: "client" | "server" = "client") {
  return Object.assign(new Error(message), { name, $fault: fault, $metadata: { httpStatusCode: status } });
}

describe("CloudWatch error classification", () => {
  it.each([
    ["ThrottlingException", 400],
    ["ServiceUnavailableException", 503],
    ["InternalFailure", 500],
    ["SomethingNew", 502],
    ["TooManyRequests", 429],
    ["ExpiredTokenException", 400],
  ])("retries %s (%i)", (name, status) => {
    const e = cloudWatchError(answer(name, status, "slow down"), ctx);
    expect(e.retryable).toBe(true);
    expect(e.message).toBe(
      `PutLogEvents on log stream s of log group /g (us-east-1): CloudWatch answered ${status} ${name}: slow down`,
    );
  });

  it("retries when nothing answered: connection refused, timeouts, aborts, no credentials yet", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });
    expect(cloudWatchError(refused, ctx)).toMatchObject({
      retryable: true,
      message: expect.stringMatching(/PutLogEvents on .* failed: ECONNREFUSED connect ECONNREFUSED/),
    });
    const timeout = Object.assign(new Error("request timed out"), { name: "TimeoutError", $metadata: {} });
    expect(cloudWatchError(timeout, ctx).retryable).toBe(true);
    const abort = Object.assign(new Error("Request aborted"), { name: "AbortError" });
    expect(cloudWatchError(abort, ctx)).toMatchObject({
      retryable: true,
      message: expect.stringMatching(/abandoned$/),
    });
    const none = Object.assign(new Error("Could not load credentials from any providers"), {
      name: "CredentialsProviderError",
    });
    expect(cloudWatchError(none, ctx)).toMatchObject({
      retryable: true,
      message: expect.stringMatching(/no AWS credentials found; set access_key_id and secret_access_key/),
    });
  });

  it("parks on access denied, naming the permission to grant", () => {
    const e = cloudWatchError(
      answer(
        "AccessDeniedException",
        400,
        "User: arn:aws:iam::1:user/v is not authorized to perform: logs:PutLogEvents",
      ),
      ctx,
    );
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(
      /access denied \(User: arn:aws:iam::1:user\/v .*\); grant logs:PutLogEvents on the log group/,
    );
  });

  it("parks on credentials AWS does not know, without quoting what it said or the keys", () => {
    const e = cloudWatchError(
      answer("UnrecognizedClientException", 400, "The security token AKIDSECRETID s3cr3tKey is invalid"),
      ctx,
    );
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(
      /AWS refused the credentials \(UnrecognizedClientException\); check access_key_id/,
    );
    expect(e.message).not.toMatch(/AKIDSECRETID|s3cr3tKey/);
    // Any message that would carry a configured key is scrubbed.
    const odd = cloudWatchError(answer("InvalidParameterException", 400, "bad key s3cr3tKey"), ctx);
    expect(odd.message).not.toContain("s3cr3tKey");
    expect(odd.message).toContain("[redacted]");
  });

  it("parks on a missing resource Vigil may not create, and retries one it creates again", () => {
    const missing = answer("ResourceNotFoundException", 400, "The specified log stream does not exist.");
    const parked = cloudWatchError(missing, {
      ...ctx,
      missingHint: "create log stream s if missing, or set create_log_stream to true",
    });
    expect(parked).toMatchObject({
      retryable: false,
      message:
        "PutLogEvents on log stream s of log group /g (us-east-1): The specified log stream does not exist; " +
        "create log stream s if missing, or set create_log_stream to true",
    });
    expect(cloudWatchError(missing, ctx)).toMatchObject({
      retryable: true,
      message: expect.stringMatching(/it is created again on the next attempt$/),
    });
  });

  it("parks on other client errors such as InvalidParameterException", () => {
    const e = cloudWatchError(answer("InvalidParameterException", 400, "1 validation error detected"), ctx);
    expect(e).toMatchObject({
      retryable: false,
      message: expect.stringMatching(
        /CloudWatch answered 400 InvalidParameterException: 1 validation error detected \(permanent/,
      ),
    });
  });
});
