/// The wire types of every reply and event (HelloReply, ReadinessEvent,
/// RegistrationInfo, SessionInfo, ErrorCode, …) and MioCore's Token,
/// Interest and Mode come with `import MioClient`: a client needs no
/// second import to name what the connection returns.
@_exported import MioProtocol
@_exported import MioCore
