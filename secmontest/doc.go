// Package secmontest helps host applications test the code that feeds secmon.
//
// # Recording store
//
// Recorder is an in-memory secmon.Store that also counts the calls made to
// it. Hand it to secmon.New in a test, drive your handlers, Flush the
// Monitor, then assert with RequireEvent (partial match: only the fields you
// set are compared, differences shown through go-cmp), RequireNoEvent and
// RequireAlert (exactly one open alert for a rule and subject). Calls and Rows
// show how the Monitor wrote: one UpsertSessions per flush, not one per
// heartbeat.
//
// # Fake clock
//
// Clock is a secmon.Clock that moves only when told to, for the Monitor,
// rate limiters and detectors alike.
//
// # Replaying attacks
//
// Replay runs a recorded or hand-written event stream through a Detector
// with the events' own timestamps; RequireFinding picks out the finding a
// rule should have reported.
//
// # Hostile uploads
//
// The subpackage uploadcorpus generates the hostile and benign uploads of the
// upload security suite, in memory, for testing your own upload path.
package secmontest
