"""boto3 against putfs's S3 listener (run by tests/s3_clients.rs).

Environment: S3_URL (the listener), PLAIN_URL (the plain API of the same
server), ROOT (its data root), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
Prints one line per check and exits non-zero on the first failure.
"""

import base64
import hashlib
import io
import json
import os
import sys
import time
import urllib.error
import urllib.request
import zlib

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

S3_URL = os.environ["S3_URL"]
PLAIN_URL = os.environ["PLAIN_URL"]
ROOT = os.environ["ROOT"]
BUCKET = "boto3-checks"


def client(**config):
    # The SDK's defaults: checksums on every upload that supports them
    # (aws-chunked bodies with a CRC trailer).
    return boto3.client(
        "s3",
        endpoint_url=S3_URL,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", retries={"max_attempts": 1}, **config),
    )


s3 = client()


def check(what, cond, detail=""):
    if not cond:
        print(f"not ok - {what} {detail}")
        sys.exit(1)
    print(f"ok - {what}")


def error_code(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None, 200


def plain(path):
    with urllib.request.urlopen(f"{PLAIN_URL}/{path}") as r:
        return r.read(), dict(r.headers)


def on_disk(key):
    return os.path.exists(os.path.join(ROOT, BUCKET, key))


s3.create_bucket(Bucket=BUCKET)
check("CreateBucket makes a directory", os.path.isdir(os.path.join(ROOT, BUCKET)))
check("CreateBucket twice (us-east-1 accepts it, as AWS does)", error_code(s3.create_bucket, Bucket=BUCKET)[0] is None)
for b in ("page-a", "page-b", "page-c"):
    s3.create_bucket(Bucket=b)
got, token = [], None
while True:
    kw = {"ContinuationToken": token} if token else {}
    r = s3.list_buckets(MaxBuckets=2, Prefix="page-", **kw)
    got.append([b["Name"] for b in r["Buckets"]])
    token = r.get("ContinuationToken")
    if not token:
        break
check("ListBuckets pages", got == [["page-a", "page-b"], ["page-c"]], got)
for b in ("page-a", "page-b", "page-c"):
    s3.delete_bucket(Bucket=b)
with open(os.path.join(ROOT, "top-object"), "wb") as f:
    f.write(b"a plain object at the top")
code = error_code(s3.create_bucket, Bucket="top-object")[0]
check("CreateBucket over a top-level object", code == "BucketAlreadyExists", code)
check("HeadBucket of a missing bucket", error_code(s3.head_bucket, Bucket="no-such-bucket")[1] == 404)

# Default checksums: boto3 sends aws-chunked bodies with a CRC trailer.
body = os.urandom(300_000)
r = s3.put_object(Bucket=BUCKET, Key="dir/one.bin", Body=body, ContentType="application/x-test",
                  Metadata={"colour": "blue"})
check("PutObject ETag is the MD5", r["ETag"].strip('"') == hashlib.md5(body).hexdigest(), r["ETag"])
data, headers = plain(f"{BUCKET}/dir/one.bin")
check("the plain API reads the same bytes", data == body)
digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
check("with the same SHA-256", headers.get("repr-digest", headers.get("Repr-Digest", "")) == f"sha-256=:{digest}:")
h = s3.head_object(Bucket=BUCKET, Key="dir/one.bin")
check("content type round-trips", h["ContentType"] == "application/x-test", h["ContentType"])
check("metadata round-trips", h["Metadata"] == {"colour": "blue"}, h["Metadata"])

# An empty body sent with Expect: 100-continue is answered without a 100
# (hyper has no body to ask for); botocore would keep that early answer's
# status for the connection's next request and misread it (the aws cli then
# waits out its read timeout), so that answer closes the connection.
r = s3.put_object(Bucket=BUCKET, Key="empty/object", Body=io.BytesIO(b""))
check("an empty body with Expect: 100-continue closes the connection",
      r["ResponseMetadata"]["HTTPHeaders"].get("connection") == "close", r["ResponseMetadata"]["HTTPHeaders"])
check("and is an empty file", os.path.getsize(os.path.join(ROOT, BUCKET, "empty/object")) == 0)

# Written over the plain API, read over S3: the MD5 ETag.
plain_body = os.urandom(5000)
req = urllib.request.Request(f"{PLAIN_URL}/{BUCKET}/plain/p.bin", data=plain_body, method="PUT")
urllib.request.urlopen(req).read()
g = s3.get_object(Bucket=BUCKET, Key="plain/p.bin")
check("a plain PUT reads back over S3", g["Body"].read() == plain_body)
check("with an MD5 ETag", g["ETag"].strip('"') == hashlib.md5(plain_body).hexdigest(), g["ETag"])

# A file put in place without putfs (rsync, zfs recv, cp): no digest
# attribute. Its first S3 read records the MD5 tied to its size and mtime;
# later reads use it and write nothing (the file's ctime stays), and a
# change to the file is seen.
placed = os.urandom(7000)
os.makedirs(os.path.join(ROOT, BUCKET, "placed"), exist_ok=True)
placed_path = os.path.join(ROOT, BUCKET, "placed/p.bin")
with open(placed_path, "wb") as f:
    f.write(placed)
g = s3.get_object(Bucket=BUCKET, Key="placed/p.bin")
check("a placed file reads over S3 with its MD5 ETag",
      g["Body"].read() == placed and g["ETag"].strip('"') == hashlib.md5(placed).hexdigest(), g["ETag"])
st = os.stat(placed_path)
recorded = json.loads(os.getxattr(placed_path, "user.putfs.s3"))
check("the description is tied to size and mtime",
      recorded.get("stamp") == f"{st.st_size}:{st.st_mtime_ns}", recorded)
# The kernel stamps ctime from a coarse clock: let it move on first, so a
# rewrite of the attribute would show.
while time.time_ns() < st.st_ctime_ns + 50_000_000:
    time.sleep(0.01)
for _ in range(3):
    s3.get_object(Bucket=BUCKET, Key="placed/p.bin")["Body"].read()
check("later reads write no attribute (ctime unchanged)", os.stat(placed_path).st_ctime_ns == st.st_ctime_ns)
placed2 = os.urandom(7001)
with open(placed_path, "wb") as f:
    f.write(placed2)
os.utime(placed_path, ns=(1, 1_000_000_000))
g = s3.get_object(Bucket=BUCKET, Key="placed/p.bin")
check("a changed placed file gets a new ETag",
      g["Body"].read() == placed2 and g["ETag"].strip('"') == hashlib.md5(placed2).hexdigest(), g["ETag"])

# Ranges and conditionals.
g = s3.get_object(Bucket=BUCKET, Key="dir/one.bin", Range="bytes=1000-1999")
check("a range", g["Body"].read() == body[1000:2000] and g["ContentRange"] == f"bytes 1000-1999/{len(body)}")
g = s3.get_object(Bucket=BUCKET, Key="dir/one.bin", Range="bytes=-10")
check("a suffix range", g["Body"].read() == body[-10:])
check("an unsatisfiable range", error_code(s3.get_object, Bucket=BUCKET, Key="dir/one.bin",
                                           Range=f"bytes={len(body)}-")[0] == "InvalidRange")
etag = h["ETag"]
check("If-None-Match with the ETag is 304",
      error_code(s3.get_object, Bucket=BUCKET, Key="dir/one.bin", IfNoneMatch=etag)[1] == 304)
check("If-Match with another ETag is 412",
      error_code(s3.get_object, Bucket=BUCKET, Key="dir/one.bin", IfMatch='"0000"')[1] == 412)

# Write-once, If-None-Match: *, integrity.
check("If-None-Match: * on an existing key",
      error_code(s3.put_object, Bucket=BUCKET, Key="dir/one.bin", Body=b"x", IfNoneMatch="*")[1] == 412)
check("another body for a write-once key",
      error_code(s3.put_object, Bucket=BUCKET, Key="dir/one.bin", Body=b"other")[0] == "AccessDenied")
r = s3.put_object(Bucket=BUCKET, Key="dir/one.bin", Body=body, ContentType="application/x-test",
                  Metadata={"colour": "blue"})
check("the same body and metadata again succeeds", r["ETag"].strip('"') == hashlib.md5(body).hexdigest())
check("the same body with other metadata is refused",
      error_code(s3.put_object, Bucket=BUCKET, Key="dir/one.bin", Body=body, ContentType="application/x-test",
                 Metadata={"colour": "red"})[0] == "AccessDenied")
check("and the metadata stays", s3.head_object(Bucket=BUCKET, Key="dir/one.bin")["Metadata"] == {"colour": "blue"})
bad_md5 = base64.b64encode(hashlib.md5(b"not the body").digest()).decode()
check("a wrong Content-MD5",
      error_code(s3.put_object, Bucket=BUCKET, Key="bad/md5", Body=b"body", ContentMD5=bad_md5)[0] == "BadDigest")
check("leaves nothing", not on_disk("bad/md5"))
for algo, field in [("CRC32", "ChecksumCRC32"), ("CRC32C", "ChecksumCRC32C"), ("SHA1", "ChecksumSHA1"),
                    ("SHA256", "ChecksumSHA256"), ("CRC64NVME", "ChecksumCRC64NVME")]:
    r = s3.put_object(Bucket=BUCKET, Key=f"sum/{algo}", Body=b"checksummed", ChecksumAlgorithm=algo)
    check(f"x-amz-checksum-{algo.lower()} is answered", r.get(field), r)
    wrong = base64.b64encode(b"\0" * len(base64.b64decode(r[field]))).decode()
    code = error_code(s3.put_object, Bucket=BUCKET, Key=f"sum/bad-{algo}", Body=b"checksummed",
                      **{field: wrong})[0]
    check(f"a wrong {algo} is BadDigest", code == "BadDigest", code)
    check(f"and leaves nothing ({algo})", not on_disk(f"sum/bad-{algo}"))
    h = s3.head_object(Bucket=BUCKET, Key=f"sum/{algo}")
    check(f"HEAD names no {algo} unless asked", field not in h)
    h = s3.head_object(Bucket=BUCKET, Key=f"sum/{algo}", ChecksumMode="ENABLED")
    check(f"HEAD with checksum mode gives the {algo}", h.get(field) == r[field], h)

# Representation headers round-trip; aws-chunked is how a body was sent,
# not what the object is.
s3.put_object(Bucket=BUCKET, Key="headers/h.gz", Body=b"x", CacheControl="max-age=60",
              ContentDisposition='attachment; filename="h.gz"', ContentEncoding="aws-chunked, gzip",
              ContentLanguage="en", Expires="Thu, 01 Dec 2044 16:00:00 GMT")
h = s3.head_object(Bucket=BUCKET, Key="headers/h.gz")
check("Cache-Control, Content-Disposition, Content-Encoding, Content-Language, Expires round-trip",
      (h.get("CacheControl"), h.get("ContentDisposition"), h.get("ContentEncoding"), h.get("ContentLanguage"),
       h.get("Expires") and h["Expires"].year)
      == ("max-age=60", 'attachment; filename="h.gz"', "gzip", "en", 2044), h)

# Every answer names its request; an error's XML carries the same ID.
url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "no/such/key"}, ExpiresIn=300)
try:
    urllib.request.urlopen(url)
    check("a missing key over a presigned URL is 404", False)
except urllib.error.HTTPError as e:
    rid = e.headers.get("x-amz-request-id")
    check("an error names its request in the header and the XML",
          rid and f"<RequestId>{rid}</RequestId>" in e.read().decode(), rid)
a = s3.get_object_attributes(Bucket=BUCKET, Key="dir/one.bin", ObjectAttributes=["ETag"])
check("GetObjectAttributes gives the ETag without quotes, as AWS does",
      a["ETag"] == hashlib.md5(body).hexdigest(), a["ETag"])

# Keys a plain file cannot hold. (botocore resolves `a/../b` to `b` before
# sending it, so that one never reaches the server as such.)
for bad in ["a//b", "a/./b", "ends/"]:
    check(f"key {bad!r} is refused", error_code(s3.put_object, Bucket=BUCKET, Key=bad, Body=b"x")[0]
          == "InvalidArgument")

# Presigned URLs (SigV4), GET and PUT.
url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "dir/one.bin"}, ExpiresIn=300)
check("a presigned GET", urllib.request.urlopen(url).read() == body)
url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "pre/put.txt"}, ExpiresIn=300)
urllib.request.urlopen(urllib.request.Request(url, data=b"presigned", method="PUT",
                                              headers={"Content-Type": ""})).read()
check("a presigned PUT", plain(f"{BUCKET}/pre/put.txt")[0] == b"presigned")
tampered = url.replace("pre%2Fput.txt", "pre%2Fother.txt").replace("pre/put.txt", "pre/other.txt")
try:
    urllib.request.urlopen(urllib.request.Request(tampered, data=b"x", method="PUT"))
    check("a presigned URL for another key is refused", False)
except urllib.error.HTTPError as e:
    check("a presigned URL for another key is refused", e.code == 403, e.code)
# A negative X-Amz-Expires (some signers produce one for a past expiry;
# the CRT's refuses to) is expired: 403, as S3 answers.
expired = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "dir/one.bin"},
                                    ExpiresIn=300).replace("X-Amz-Expires=300", "X-Amz-Expires=-300")
try:
    urllib.request.urlopen(expired)
    check("a presigned URL with a negative expiry is refused", False)
except urllib.error.HTTPError as e:
    check("a presigned URL with a negative expiry is refused", e.code == 403 and b"expired" in e.read(), e.code)
wrong_secret = boto3.client("s3", endpoint_url=S3_URL, region_name="us-east-1",
                            aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"], aws_secret_access_key="wrong",
                            config=Config(signature_version="s3v4", retries={"max_attempts": 1}))
check("a wrong secret is refused", error_code(wrong_secret.list_buckets)[0] == "SignatureDoesNotMatch")

# A 50 MiB multipart upload with the SDK's default checksums.
big = os.urandom(50 * 1024 * 1024)
s3.upload_fileobj(io.BytesIO(big), BUCKET, "big/fifty.bin",
                  Config=TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20))
h = s3.head_object(Bucket=BUCKET, Key="big/fifty.bin")
parts = [big[i:i + (8 << 20)] for i in range(0, len(big), 8 << 20)]
want = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + f"-{len(parts)}"
check("multipart ETag is S3's", h["ETag"].strip('"') == want, h["ETag"])
check("multipart bytes over the plain API", hashlib.sha256(plain(f"{BUCKET}/big/fifty.bin")[0]).digest()
      == hashlib.sha256(big).digest())
check("no upload left", not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads"))
g = s3.get_object(Bucket=BUCKET, Key="big/fifty.bin", PartNumber=2)
check("GetObject by part number", g["Body"].read() == parts[1] and g["PartsCount"] == len(parts)
      and g["ETag"] == h["ETag"], {k: g.get(k) for k in ("PartsCount", "ContentRange", "ETag")})
check("HEAD by part number", s3.head_object(Bucket=BUCKET, Key="big/fifty.bin", PartNumber=7)["ContentLength"]
      == len(parts[6]))
code = error_code(s3.get_object, Bucket=BUCKET, Key="big/fifty.bin", PartNumber=len(parts) + 1)[0]
check("a part it does not have is InvalidPart", code == "InvalidPart", code)
# UploadPartCopy: parts taken from an object's byte ranges (how SDKs copy
# large objects); s3's managed copy uses it above its multipart threshold.
u = s3.create_multipart_upload(Bucket=BUCKET, Key="copy/parts.bin")
cuts = [(0, (6 << 20) - 1), (6 << 20, len(big) - 1)]
done = []
for i, (first, last) in enumerate(cuts, 1):
    r = s3.upload_part_copy(Bucket=BUCKET, Key="copy/parts.bin", UploadId=u["UploadId"], PartNumber=i,
                            CopySource={"Bucket": BUCKET, "Key": "big/fifty.bin"},
                            CopySourceRange=f"bytes={first}-{last}")
    done.append({"PartNumber": i, "ETag": r["CopyPartResult"]["ETag"]})
# (Asked while the upload is open, so only the range can be refused.)
code = error_code(s3.upload_part_copy, Bucket=BUCKET, Key="copy/parts.bin", UploadId=u["UploadId"], PartNumber=3,
                  CopySource={"Bucket": BUCKET, "Key": "big/fifty.bin"}, CopySourceRange="bytes=0-")[0]
check("an open copy range is refused", code == "InvalidArgument", code)
s3.complete_multipart_upload(Bucket=BUCKET, Key="copy/parts.bin", UploadId=u["UploadId"],
                             MultipartUpload={"Parts": done})
check("UploadPartCopy", hashlib.sha256(plain(f"{BUCKET}/copy/parts.bin")[0]).digest() == hashlib.sha256(big).digest())
s3.copy({"Bucket": BUCKET, "Key": "big/fifty.bin"}, BUCKET, "copy/managed.bin",
        Config=TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20))
check("a managed copy of 50 MiB", hashlib.sha256(plain(f"{BUCKET}/copy/managed.bin")[0]).digest()
      == hashlib.sha256(big).digest())
a = s3.get_object_attributes(Bucket=BUCKET, Key="big/fifty.bin", MaxParts=3,
                             ObjectAttributes=["ETag", "ObjectSize", "ObjectParts", "StorageClass"])
check("GetObjectAttributes", (a["ETag"], a["ObjectSize"], a["StorageClass"], a["ObjectParts"]["TotalPartsCount"],
                              [p["Size"] for p in a["ObjectParts"]["Parts"]], a["ObjectParts"]["IsTruncated"])
      == (h["ETag"].strip('"'), len(big), "STANDARD", len(parts), [len(p) for p in parts[:3]], True), a)
# Multipart checksums: COMPOSITE (SHA-256 of the parts' SHA-256s, -N) and
# FULL_OBJECT (the CRC32 of the whole body), checked before publishing.
b64 = lambda raw: base64.b64encode(raw).decode()
bodies = [os.urandom(5 * 1024 * 1024), os.urandom(1000)]
u = s3.create_multipart_upload(Bucket=BUCKET, Key="mpu/sha", ChecksumAlgorithm="SHA256")
check("CreateMultipartUpload names its checksum", (u.get("ChecksumAlgorithm"), u.get("ChecksumType"))
      == ("SHA256", "COMPOSITE"), u)
parts = []
for i, part in enumerate(bodies, 1):
    r = s3.upload_part(Bucket=BUCKET, Key="mpu/sha", UploadId=u["UploadId"], PartNumber=i, Body=part,
                       ChecksumAlgorithm="SHA256")
    check(f"part {i}'s SHA-256", r.get("ChecksumSHA256") == b64(hashlib.sha256(part).digest()), r)
    parts.append({"PartNumber": i, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
composite = b64(hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in bodies)).digest()) + "-2"
code = error_code(s3.complete_multipart_upload, Bucket=BUCKET, Key="mpu/sha", UploadId=u["UploadId"],
                  MultipartUpload={"Parts": parts}, ChecksumSHA256=b64(b"\0" * 32) + "-2")[0]
check("a wrong composite checksum is BadDigest", code == "BadDigest", code)
check("and publishes nothing", not on_disk("mpu/sha"))
wrong_part = [dict(parts[0], ChecksumSHA256=b64(b"\1" * 32)), parts[1]]
code = error_code(s3.complete_multipart_upload, Bucket=BUCKET, Key="mpu/sha", UploadId=u["UploadId"],
                  MultipartUpload={"Parts": wrong_part})[0]
check("a part named with another checksum is BadDigest", code == "BadDigest", code)
# Parts named without their checksums are taken with the ones they were
# uploaded with.
parts = [{k: v for k, v in p.items() if k != "ChecksumSHA256"} for p in parts]
r = s3.complete_multipart_upload(Bucket=BUCKET, Key="mpu/sha", UploadId=u["UploadId"],
                                 MultipartUpload={"Parts": parts}, ChecksumSHA256=composite)
check("the composite checksum", (r.get("ChecksumSHA256"), r.get("ChecksumType")) == (composite, "COMPOSITE"), r)
h = s3.head_object(Bucket=BUCKET, Key="mpu/sha", ChecksumMode="ENABLED")
check("is given back", (h.get("ChecksumSHA256"), h.get("ChecksumType")) == (composite, "COMPOSITE"), h)
u = s3.create_multipart_upload(Bucket=BUCKET, Key="mpu/crc", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
parts = []
for i, part in enumerate(bodies, 1):
    r = s3.upload_part(Bucket=BUCKET, Key="mpu/crc", UploadId=u["UploadId"], PartNumber=i, Body=part,
                       ChecksumAlgorithm="CRC32")
    parts.append({"PartNumber": i, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
full = b64(zlib.crc32(b"".join(bodies)).to_bytes(4, "big"))
r = s3.complete_multipart_upload(Bucket=BUCKET, Key="mpu/crc", UploadId=u["UploadId"],
                                 MultipartUpload={"Parts": parts}, ChecksumCRC32=full)
check("a full-object CRC32", (r.get("ChecksumCRC32"), r.get("ChecksumType")) == (full, "FULL_OBJECT"), r)

u = s3.create_multipart_upload(Bucket=BUCKET, Key="mpu/retried")
p1 = s3.upload_part(Bucket=BUCKET, Key="mpu/retried", UploadId=u["UploadId"], PartNumber=1, Body=b"r" * 100)
done = {"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}]}
first = s3.complete_multipart_upload(Bucket=BUCKET, Key="mpu/retried", UploadId=u["UploadId"], MultipartUpload=done)
again = s3.complete_multipart_upload(Bucket=BUCKET, Key="mpu/retried", UploadId=u["UploadId"], MultipartUpload=done)
check("a retried CompleteMultipartUpload answers the same ETag", first["ETag"] == again["ETag"], again)
code = error_code(s3.complete_multipart_upload, Bucket=BUCKET, Key="mpu/retried", UploadId="0" * 32,
                  MultipartUpload=done)[0]
check("another upload ID naming the same parts is NoSuchUpload", code == "NoSuchUpload", code)
u2 = s3.create_multipart_upload(Bucket=BUCKET, Key="mpu/nosum")
p1 = s3.upload_part(Bucket=BUCKET, Key="mpu/nosum", UploadId=u2["UploadId"], PartNumber=1, Body=b"n" * 10)
code = error_code(s3.complete_multipart_upload, Bucket=BUCKET, Key="mpu/nosum", UploadId=u2["UploadId"],
                  MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}]},
                  ChecksumCRC32=b64(zlib.crc32(b"n" * 10).to_bytes(4, "big")))[0]
check("a checksum the upload cannot check is refused", code == "InvalidRequest", code)
s3.abort_multipart_upload(Bucket=BUCKET, Key="mpu/nosum", UploadId=u2["UploadId"])
other = {"Parts": [{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]}
code = error_code(s3.complete_multipart_upload, Bucket=BUCKET, Key="mpu/retried", UploadId=u["UploadId"],
                  MultipartUpload=other)[0]
check("one naming other parts is NoSuchUpload", code == "NoSuchUpload", code)
u = s3.create_multipart_upload(Bucket=BUCKET, Key="mpu/small")
s3.upload_part(Bucket=BUCKET, Key="mpu/small", UploadId=u["UploadId"], PartNumber=1, Body=b"a" * 100)
p2 = s3.upload_part(Bucket=BUCKET, Key="mpu/small", UploadId=u["UploadId"], PartNumber=2, Body=b"b" * 100)
p1 = s3.list_parts(Bucket=BUCKET, Key="mpu/small", UploadId=u["UploadId"])["Parts"][0]
code = error_code(s3.complete_multipart_upload, Bucket=BUCKET, Key="mpu/small", UploadId=u["UploadId"],
                  MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]},
                                             {"PartNumber": 2, "ETag": p2["ETag"]}]})[0]
check("a part under 5 MiB that is not the last", code == "EntityTooSmall", code)
check("is listed", [x["UploadId"] for x in s3.list_multipart_uploads(Bucket=BUCKET)["Uploads"]] == [u["UploadId"]])
s3.abort_multipart_upload(Bucket=BUCKET, Key="mpu/small", UploadId=u["UploadId"])
check("abort removes it", error_code(s3.list_parts, Bucket=BUCKET, Key="mpu/small",
                                     UploadId=u["UploadId"])[0] == "NoSuchUpload")
check("no part is a key", not on_disk("mpu/small"))

# Listings: byte order, delimiter, pagination, url encoding, V1.
keys = ["list/a-b", "list/a/b", "list/a/c/d", "list/a0", "list/b", "list/sp ace", "list/ü"]
for k in keys:
    s3.put_object(Bucket=BUCKET, Key=k, Body=k.encode())
pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="list/", PaginationConfig={"PageSize": 2})
got = [o["Key"] for p in pages for o in p.get("Contents", [])]
check("V2 pages of 2 in byte order", got == sorted(keys, key=lambda k: k.encode()), got)
r = s3.list_objects_v2(Bucket=BUCKET, Prefix="list/", Delimiter="/")
check("delimiter: keys", [o["Key"] for o in r["Contents"]] == ["list/a-b", "list/a0", "list/b", "list/sp ace", "list/ü"])
check("delimiter: prefixes", [p["Prefix"] for p in r["CommonPrefixes"]] == ["list/a/"])
r = s3.list_objects_v2(Bucket=BUCKET, Prefix="list/b", FetchOwner=True)
check("fetch-owner", r["Contents"][0].get("Owner", {}).get("ID") == "putfs", r["Contents"])
r = s3.list_objects_v2(Bucket=BUCKET, Prefix="list/a", StartAfter="list/a-b")
check("start-after", [o["Key"] for o in r["Contents"]] == ["list/a/b", "list/a/c/d", "list/a0"])
r = s3.list_objects_v2(Bucket=BUCKET, Prefix="list/s", EncodingType="url")
check("encoding-type=url", [o["Key"] for o in r["Contents"]] == ["list/sp%20ace"], r["Contents"])
pages = s3.get_paginator("list_objects").paginate(Bucket=BUCKET, Prefix="list/", PaginationConfig={"PageSize": 3})
got = [o["Key"] for p in pages for o in p.get("Contents", [])]
check("V1 pages with markers", got == sorted(keys, key=lambda k: k.encode()), got)

# CopyObject and DeleteObjects.
r = s3.copy_object(Bucket=BUCKET, Key="copy/one.bin", CopySource={"Bucket": BUCKET, "Key": "dir/one.bin"})
check("CopyObject", plain(f"{BUCKET}/copy/one.bin")[0] == body
      and r["CopyObjectResult"]["ETag"].strip('"') == hashlib.md5(body).hexdigest())
check("CopyObject keeps the metadata", s3.head_object(Bucket=BUCKET, Key="copy/one.bin")["Metadata"] == {"colour": "blue"})
code = error_code(s3.delete_object, Bucket=BUCKET, Key=keys[0], VersionId="v2")[0]
check("DeleteObject of a version other than null", code == "InvalidArgument", code)
r = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in keys] + [{"Key": "list/none"}]})
check("DeleteObjects", sorted(d["Key"] for d in r["Deleted"]) == sorted(keys + ["list/none"]) and not r.get("Errors"))
check("the files are gone", not any(on_disk(k) for k in keys))

# Not implemented: S3's XML error, 501.
check("an operation left out answers 501", error_code(s3.get_bucket_tagging, Bucket=BUCKET)[1] == 501)
check("DeleteBucket of a non-empty bucket", error_code(s3.delete_bucket, Bucket=BUCKET)[0] == "BucketNotEmpty")
print("all boto3 checks passed")
