#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Geohashes as Redis computes them: latitude and longitude scaled into `step`-bit
/// integers within their ranges and interleaved (latitude in the even bits), 26 steps (52
/// bits) for the sorted-set score. Latitudes are limited to Web Mercator's ±85.05112878.
/// Every formula and constant follows Redis, so scores, decoded positions, distances and
/// the areas a search visits are the same bit for bit.
package struct GeoHashBits: Equatable, Sendable {
    package var bits: UInt64
    package var step: Int

    static let zero = GeoHashBits(bits: 0, step: 0)
    var isZero: Bool { self.bits == 0 && self.step == 0 }

    /// The 52-bit score range `[min, max)` the cell covers.
    var scoreRange: (UInt64, UInt64) {
        let shift = UInt64(52 - self.step * 2)
        return (self.bits << shift, (self.bits + 1) << shift)
    }
}

package struct GeoRange: Sendable {
    var min: Double
    var max: Double
}

package struct GeoArea: Sendable {
    var longitude: GeoRange
    var latitude: GeoRange
}

package enum GeoHash {
    package static let maxStep = 26
    package static let longitudeRange = GeoRange(min: -180, max: 180)
    package static let latitudeRange = GeoRange(min: -85.05112878, max: 85.05112878)
    static let standardLatitudeRange = GeoRange(min: -90, max: 90)
    package static let earthRadiusMeters = 6_372_797.560856
    static let mercatorMax = 20_037_726.37
    static let degreesToRadians = Double.pi / 180.0

    package static func isValid(longitude: Double, latitude: Double) -> Bool {
        longitude >= longitudeRange.min && longitude <= longitudeRange.max
            && latitude >= latitudeRange.min && latitude <= latitudeRange.max
    }

    // MARK: Bits

    /// Spreads the 32 bits of `value` to the even bit positions.
    static func spread(_ value: UInt32) -> UInt64 {
        var x = UInt64(value)
        x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF
        x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF
        x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F
        x = (x | (x << 2)) & 0x3333_3333_3333_3333
        x = (x | (x << 1)) & 0x5555_5555_5555_5555
        return x
    }

    /// Gathers the even bits of `value` into 32 bits.
    static func gather(_ value: UInt64) -> UInt32 {
        var x = value & 0x5555_5555_5555_5555
        x = (x | (x >> 1)) & 0x3333_3333_3333_3333
        x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F
        x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF
        x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF
        x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF
        return UInt32(x)
    }

    /// The cell of `step` bits per coordinate holding the point; nil outside the ranges.
    static func encode(
        longitude: Double, latitude: Double, step: Int,
        longitudeRange: GeoRange = GeoHash.longitudeRange, latitudeRange: GeoRange = GeoHash.latitudeRange
    ) -> GeoHashBits? {
        guard isValid(longitude: longitude, latitude: latitude),
            latitude >= latitudeRange.min, latitude <= latitudeRange.max,
            longitude >= longitudeRange.min, longitude <= longitudeRange.max
        else { return nil }
        let scale = Double(UInt64(1) << UInt64(step))
        let latitudeOffset = (latitude - latitudeRange.min) / (latitudeRange.max - latitudeRange.min) * scale
        let longitudeOffset = (longitude - longitudeRange.min) / (longitudeRange.max - longitudeRange.min) * scale
        // Truncated to 32 bits as Redis's integer conversion does.
        let bits = spread(UInt32(latitudeOffset)) | (spread(UInt32(longitudeOffset)) << 1)
        return GeoHashBits(bits: bits, step: step)
    }

    /// The 52-bit score of a point (GEOADD).
    package static func score(longitude: Double, latitude: Double) -> UInt64? {
        guard let hash = encode(longitude: longitude, latitude: latitude, step: maxStep) else { return nil }
        return hash.bits << UInt64(52 - maxStep * 2)
    }

    static func decode(_ hash: GeoHashBits) -> GeoArea {
        let latitudeCell = Double(gather(hash.bits))
        let longitudeCell = Double(gather(hash.bits >> 1))
        let scale = Double(UInt64(1) << UInt64(hash.step))
        let latitudeSpan = latitudeRange.max - latitudeRange.min
        let longitudeSpan = longitudeRange.max - longitudeRange.min
        return GeoArea(
            longitude: GeoRange(
                min: longitudeRange.min + (longitudeCell / scale) * longitudeSpan,
                max: longitudeRange.min + ((longitudeCell + 1) / scale) * longitudeSpan),
            latitude: GeoRange(
                min: latitudeRange.min + (latitudeCell / scale) * latitudeSpan,
                max: latitudeRange.min + ((latitudeCell + 1) / scale) * latitudeSpan))
    }

    /// The position a score stands for: the centre of its cell, clamped to the ranges.
    package static func position(ofScore score: Double) -> (longitude: Double, latitude: Double) {
        let area = decode(GeoHashBits(bits: UInt64(score), step: maxStep))
        var longitude = (area.longitude.min + area.longitude.max) / 2
        longitude = Swift.min(Swift.max(longitude, longitudeRange.min), longitudeRange.max)
        var latitude = (area.latitude.min + area.latitude.max) / 2
        latitude = Swift.min(Swift.max(latitude, latitudeRange.min), latitudeRange.max)
        return (longitude, latitude)
    }

    /// GEOHASH's 11-character text: the position re-encoded with the standard ±90° latitude
    /// range; the 11th character stands for bits Redis does not have and is always `0`.
    package static func text(ofScore score: Double) -> String {
        let (longitude, latitude) = position(ofScore: score)
        let hash =
            encode(
                longitude: longitude, latitude: latitude, step: maxStep, longitudeRange: GeoHash.longitudeRange,
                latitudeRange: standardLatitudeRange)?.bits ?? 0
        let alphabet = Array("0123456789bcdefghjkmnpqrstuvwxyz".utf8)
        var characters: [UInt8] = []
        for index in 0..<11 {
            let value = index == 10 ? 0 : Int((hash >> UInt64(52 - (index + 1) * 5)) & 0x1F)
            characters.append(alphabet[value])
        }
        return String(decoding: characters, as: UTF8.self)
    }

    // MARK: Distances

    static func latitudeDistance(_ latitude1: Double, _ latitude2: Double) -> Double {
        earthRadiusMeters * abs(latitude2 * degreesToRadians - latitude1 * degreesToRadians)
    }

    /// The haversine distance in meters.
    package static func distance(longitude1: Double, latitude1: Double, longitude2: Double, latitude2: Double) -> Double
    {
        let longitude1Radians = longitude1 * degreesToRadians
        let longitude2Radians = longitude2 * degreesToRadians
        let v = sin((longitude2Radians - longitude1Radians) / 2)
        // Same meridian: the latitude difference alone, as Redis shortcuts it.
        if v == 0 { return latitudeDistance(latitude1, latitude2) }
        let latitude1Radians = latitude1 * degreesToRadians
        let latitude2Radians = latitude2 * degreesToRadians
        let u = sin((latitude2Radians - latitude1Radians) / 2)
        let a = u * u + cos(latitude1Radians) * cos(latitude2Radians) * v * v
        return 2.0 * earthRadiusMeters * asin(a.squareRoot())
    }

    // MARK: Search areas

    /// Moves a cell one step along one coordinate, in the interleaved bits: longitude's
    /// bits are the odd ones, latitude's the even ones.
    private static func move(_ hash: inout GeoHashBits, direction: Int, odd: Bool) {
        guard direction != 0 else { return }
        let mine: UInt64 = odd ? 0xAAAA_AAAA_AAAA_AAAA : 0x5555_5555_5555_5555
        let others = ~mine
        var moving = hash.bits & mine
        // The other coordinate's bits set, so a carry ripples through them.
        let fill = others >> UInt64(64 - hash.step * 2)
        if direction > 0 {
            moving = moving &+ (fill + 1)
        } else {
            moving |= fill
            moving = moving &- (fill + 1)
        }
        moving &= mine >> UInt64(64 - hash.step * 2)
        hash.bits = moving | (hash.bits & others)
    }

    static func neighbor(_ hash: GeoHashBits, longitude: Int, latitude: Int) -> GeoHashBits {
        var moved = hash
        self.move(&moved, direction: longitude, odd: true)
        self.move(&moved, direction: latitude, odd: false)
        return moved
    }

    static func estimateStep(radiusMeters: Double, latitude: Double) -> Int {
        if radiusMeters == 0 { return 26 }
        var range = radiusMeters
        var step = 1
        while range < mercatorMax {
            range *= 2
            step += 1
        }
        step -= 2
        // Cells narrow towards the poles.
        if latitude > 66 || latitude < -66 {
            step -= 1
            if latitude > 80 || latitude < -80 { step -= 1 }
        }
        return Swift.min(Swift.max(step, 1), 26)
    }

    /// The cells a search visits, in Redis's order (centre, N, S, E, W, NE, NW, SE, SW),
    /// with the useless ones zeroed.
    static func searchCells(_ shape: GeoShape) -> [GeoHashBits] {
        let longitude = shape.longitude
        let latitude = shape.latitude
        let halfHeight = shape.conversion * (shape.isCircle ? shape.radius : shape.height / 2)
        let halfWidth = shape.conversion * (shape.isCircle ? shape.radius : shape.width / 2)
        let latitudeDelta = halfHeight / earthRadiusMeters / degreesToRadians
        let longitudeDeltaTop =
            halfWidth / earthRadiusMeters / cos((latitude + latitudeDelta) * degreesToRadians) / degreesToRadians
        let longitudeDeltaBottom =
            halfWidth / earthRadiusMeters / cos((latitude - latitudeDelta) * degreesToRadians) / degreesToRadians
        let southern = latitude < 0
        let minLongitude = southern ? longitude - longitudeDeltaBottom : longitude - longitudeDeltaTop
        let maxLongitude = southern ? longitude + longitudeDeltaBottom : longitude + longitudeDeltaTop
        let minLatitude = latitude - latitudeDelta
        let maxLatitude = latitude + latitudeDelta

        var radiusMeters =
            shape.isCircle
            ? shape.radius
            : ((shape.width / 2) * (shape.width / 2) + (shape.height / 2) * (shape.height / 2)).squareRoot()
        radiusMeters *= shape.conversion
        var step = estimateStep(radiusMeters: radiusMeters, latitude: latitude)

        func cells(_ step: Int) -> (GeoHashBits, [GeoHashBits]) {
            let center = encode(longitude: longitude, latitude: latitude, step: step) ?? .zero
            let around = [(0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1)].map {
                neighbor(center, longitude: $0.0, latitude: $0.1)
            }
            return (center, around)
        }
        var (center, around) = cells(step)
        // A step too fine near the search's edge would leave part of it uncovered.
        let north = decode(around[0])
        let south = decode(around[1])
        let east = decode(around[2])
        let west = decode(around[3])
        let tooFine =
            north.latitude.max < maxLatitude || south.latitude.min > minLatitude
            || east.longitude.max < maxLongitude || west.longitude.min > minLongitude
        if step > 1 && tooFine {
            step -= 1
            (center, around) = cells(step)
        }
        let area = decode(center)
        if step >= 2 {
            // Indices into `around`: 0 N, 1 S, 2 E, 3 W, 4 NE, 5 NW, 6 SE, 7 SW.
            if area.latitude.min < minLatitude { for index in [1, 7, 6] { around[index] = .zero } }
            if area.latitude.max > maxLatitude { for index in [0, 4, 5] { around[index] = .zero } }
            if area.longitude.min < minLongitude { for index in [3, 7, 5] { around[index] = .zero } }
            if area.longitude.max > maxLongitude { for index in [2, 6, 4] { around[index] = .zero } }
        }
        return [center] + around
    }
}

/// A search's centre and shape, in the user's unit (`conversion` meters each).
package struct GeoShape: Sendable {
    var longitude = 0.0
    var latitude = 0.0
    var isCircle = true
    var radius = 0.0
    var width = 0.0
    var height = 0.0
    var conversion = 1.0

    /// The distance in meters from the centre when the point lies inside the shape.
    func distanceIfInside(longitude: Double, latitude: Double) -> Double? {
        if self.isCircle {
            let distance = GeoHash.distance(
                longitude1: self.longitude, latitude1: self.latitude, longitude2: longitude, latitude2: latitude)
            return distance > self.radius * self.conversion ? nil : distance
        }
        let widthMeters = self.width * self.conversion
        let heightMeters = self.height * self.conversion
        if GeoHash.latitudeDistance(latitude, self.latitude) > heightMeters / 2 { return nil }
        let longitudeDistance = GeoHash.distance(
            longitude1: longitude, latitude1: latitude, longitude2: self.longitude, latitude2: latitude)
        if longitudeDistance > widthMeters / 2 { return nil }
        return GeoHash.distance(
            longitude1: self.longitude, latitude1: self.latitude, longitude2: longitude, latitude2: latitude)
    }
}
