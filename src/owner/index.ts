// Who owns a gallery: the lock file, the server's loopback address and local admin token, and
// the rules the server start-up and the CLI commands follow (see owner.ts).
export { LOCK_FILE, OwnerLock, currentOwner, isAlive, lockPath, ownedByAnotherProcess, type OwnerRecord } from './lock.js';
export { OwnerError, ServerOwnership, ServerUnreachable, claimForServer, describeOwner, useGallery, type ServingOwner, type WaitOptions } from './owner.js';
export { ServerClient } from './client.js';
