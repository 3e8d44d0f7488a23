// torov's own exit statuses (a run's is otherwise the guest's, or 128 + the
// signal that ended it).

/** Bad input: a manifest, a binary, the command line (said in one line). */
export const EXIT_USAGE = 2;
/** A bug in torov. */
export const EXIT_BUG = 70;
/** The reader of torov's output went away: as SIGPIPE ends a Unix tool. */
export const EXIT_SIGPIPE = 141;
