import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * A throwaway CA with a server certificate and a client certificate, made with the openssl
 * CLI in a temporary directory, for the TLS tests against the double. Nothing is kept.
 */
export interface TlsFixtures {
  readonly dir: string;
  readonly caFile: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** A second CA, trusted by nobody: its client certificate must be refused. */
  readonly strangerCertFile: string;
  readonly strangerKeyFile: string;
  remove(): void;
}

export function opensslAvailable(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
}

function selfSignedCa(dir: string, name: string): void {
  openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.pem`);
}

function issued(dir: string, ca: string, name: string, extensions: string): void {
  openssl(dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.csr`);
  fs.writeFileSync(path.join(dir, `${name}.ext`), extensions);
  openssl(dir, "x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-days", "2", "-extfile", `${name}.ext`, "-out", `${name}.pem`);
}

/** `serverNames`: the DNS names and IP addresses on the server certificate. */
export function makeTlsFixtures(serverNames: { readonly dns: readonly string[]; readonly ip: readonly string[] }): TlsFixtures {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "custos-bao-tls-"));
  selfSignedCa(dir, "ca");
  selfSignedCa(dir, "stranger-ca");
  const san = [...serverNames.dns.map((name) => `DNS:${name}`), ...serverNames.ip.map((ip) => `IP:${ip}`)].join(",");
  issued(dir, "ca", "server", `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  issued(dir, "ca", "client", "extendedKeyUsage=clientAuth\n");
  issued(dir, "stranger-ca", "stranger", "extendedKeyUsage=clientAuth\n");
  const file = (name: string): string => path.join(dir, name);
  return {
    dir,
    caFile: file("ca.pem"),
    serverCertFile: file("server.pem"),
    serverKeyFile: file("server.key"),
    clientCertFile: file("client.pem"),
    clientKeyFile: file("client.key"),
    strangerCertFile: file("stranger.pem"),
    strangerKeyFile: file("stranger.key"),
    remove: () => {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
