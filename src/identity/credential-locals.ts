// Moved to src/http/credential-locals.ts (an Express concern); this re-export keeps the node and
// secret routes building until their own move lands. Delete it once nothing imports it.
export { credentialOf, setCredential, userCredentialOf } from "../http/credential-locals.ts";
