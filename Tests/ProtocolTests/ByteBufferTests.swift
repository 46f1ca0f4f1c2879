import Testing
@testable import MioProtocol

@Suite("ByteBuffer: the writer's bytes")
struct ByteBufferTests {
    /// A small deterministic generator, so a failure repeats.
    struct Steps {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        mutating func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
    }

    @Test("every operation leaves the same bytes as an array given the same steps")
    func modelCheck() {
        var buffer = ByteBuffer(capacity: 16)
        var model: [UInt8] = []
        var steps = Steps()
        for step in 0..<20_000 {
            let byte = UInt8(truncatingIfNeeded: step)
            switch steps.next(6) {
            case 0:
                buffer.append(byte)
                model.append(byte)
            case 1:
                let run = [UInt8](repeating: byte, count: steps.next(300))
                run.withUnsafeBufferPointer { buffer.append(contentsOf: $0) }
                model += run
            case 2:
                let room = steps.next(200) + 1
                let written = steps.next(room + 1)
                buffer.append(reserving: room) { at in
                    for k in 0..<written { at[k] = byte &+ UInt8(truncatingIfNeeded: k) }
                    return written
                }
                model += (0..<written).map { byte &+ UInt8(truncatingIfNeeded: $0) }
            case 3:
                let n = steps.next(model.count + 1)
                buffer.removeFirst(n)
                model.removeFirst(n)
            case 4 where steps.next(20) == 0:
                buffer.removeAll(keepingCapacityUpTo: 1024, elseShrinkingTo: 64)
                model.removeAll()
                #expect(buffer.capacity <= 1024)
            default:
                buffer.append(contentsOf: "\(step)".utf8)
                model += "\(step)".utf8
            }
            #expect(buffer.count == model.count)
            #expect(buffer.capacity >= buffer.count)
        }
        #expect(buffer.array == model)
        buffer.withUnsafeBytes { #expect(Array($0) == model) }
    }

    @Test("emptied, it keeps its memory up to the limit and gives back the rest")
    func removeAllShrinks() {
        var buffer = ByteBuffer(capacity: 16)
        [UInt8](repeating: 1, count: 5000).withUnsafeBufferPointer { buffer.append(contentsOf: $0) }
        let grown = buffer.capacity
        #expect(grown >= 5000)
        buffer.removeAll(keepingCapacityUpTo: grown, elseShrinkingTo: 16)
        #expect(buffer.isEmpty && buffer.capacity == grown)
        buffer.removeAll(keepingCapacityUpTo: 1024, elseShrinkingTo: 100)
        #expect(buffer.isEmpty && buffer.capacity == 100)
    }
}
