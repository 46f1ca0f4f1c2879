/// `MioError` lives with the system calls (`MioSystem`, inside this
/// package); users of MioCore see it as MioCore's own.
@_exported import struct MioSystem.MioError
