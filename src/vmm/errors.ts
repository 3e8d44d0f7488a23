// The error every user-facing failure is: a stable code and a one-line
// message that names the thing and the problem. The CLI prints the message
// and exits with status 2; anything that is not a TorovError is a bug.

export type TorovErrorCode =
  | "EMANIFEST" // the manifest file: JSON, keys, values
  | "EBINARY" // the program file: missing, not ELF, unsupported
  | "EMOUNT" // the MountPoint folder
  | "EMEMORY" // guest memory: too small, does not fit
  | "EKVM" // /dev/kvm and the KVM API
  | "EDEBUG" // the debugger connection
  | "EUSAGE"; // command-line arguments

export class TorovError extends Error {
  readonly code: TorovErrorCode;
  constructor(message: string, code: TorovErrorCode) {
    super(message);
    this.name = "TorovError";
    this.code = code;
  }
}

export function isTorovError(e: unknown): e is TorovError {
  return e instanceof TorovError;
}
