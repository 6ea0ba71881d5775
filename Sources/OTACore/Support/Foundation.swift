// OTACore uses only FoundationEssentials where the toolchain has it: the agent links OTACore and
// must not pull in ICU (about 39 MB) through full Foundation.
#if canImport(FoundationEssentials)
@_exported import FoundationEssentials
#else
@_exported import Foundation
#endif
