//! The API calls the world makes and what their request/response bodies look like.

use crate::json::Json;
use crate::rng::{Rng, iso};
use crate::world::Account;

pub(crate) struct Op {
    pub source: &'static str,
    pub name: &'static str,
    /// The IAM action it needs (differs from the event name for S3 lists, Lambda, CloudWatch).
    pub action: &'static str,
    pub read_only: bool,
    /// S3 object-level calls are data events.
    pub data: bool,
    /// Global services log in us-east-1 whatever the caller's region.
    pub global: bool,
}

/// `op!(service EventName flags ["iam:Action"])`. Flags: `R` read-only, `D` data event, `G`
/// global service (logs in us-east-1), `-` none. The IAM action defaults to `service:EventName`.
macro_rules! op {
    ($svc:ident $name:ident $flags:tt) => {
        op!($svc $name $flags concat!(stringify!($svc), ":", stringify!($name)))
    };
    ($svc:ident $name:ident $flags:tt $action:expr) => {{
        let flags = stringify!($flags).as_bytes();
        Op {
            source: concat!(stringify!($svc), ".amazonaws.com"),
            name: stringify!($name),
            action: $action,
            read_only: has(flags, b'R'),
            data: has(flags, b'D'),
            global: has(flags, b'G'),
        }
    }};
}

const fn has(flags: &[u8], flag: u8) -> bool {
    let mut i = 0;
    while i < flags.len() {
        if flags[i] == flag {
            return true;
        }
        i += 1;
    }
    false
}

pub(crate) static OPS: &[Op] = &[
    op!(ec2 DescribeInstances R),
    op!(ec2 DescribeVolumes R),
    op!(ec2 DescribeSecurityGroups R),
    op!(ec2 DescribeSnapshots R),
    op!(ec2 DescribeRegions R),
    op!(ec2 StopInstances -),
    op!(ec2 StartInstances -),
    op!(ec2 CreateSnapshot -),
    op!(ec2 RunInstances -),
    op!(ec2 CreateTags -),
    op!(s3 ListBuckets R "s3:ListAllMyBuckets"),
    op!(s3 GetBucketLocation R),
    op!(s3 GetBucketPolicy R),
    op!(s3 GetBucketAcl R),
    op!(s3 GetObject RD),
    op!(s3 PutObject D),
    op!(s3 ListObjects RD "s3:ListBucket"),
    op!(iam GetRole RG),
    op!(iam ListRoles RG),
    op!(iam ListAttachedRolePolicies RG),
    op!(iam GetAccountAuthorizationDetails RG),
    op!(iam GetAccountPasswordPolicy RG),
    op!(iam PutRolePolicy G),
    op!(iam CreateUser G),
    op!(kms Decrypt R),
    op!(kms GenerateDataKey R),
    op!(kms DescribeKey R),
    op!(kms ListKeys R),
    op!(kms GetKeyRotationStatus R),
    op!(kms CreateGrant -),
    op!(lambda ListFunctions20150331 R "lambda:ListFunctions"),
    op!(lambda GetFunction20150331v2 R "lambda:GetFunction"),
    op!(lambda UpdateFunctionConfiguration20150331v2 - "lambda:UpdateFunctionConfiguration"),
    op!(lambda UpdateFunctionCode20150331v2 - "lambda:UpdateFunctionCode"),
    op!(logs DescribeLogGroups R),
    op!(logs DescribeLogStreams R),
    op!(logs FilterLogEvents R),
    op!(logs CreateLogStream -),
    op!(monitoring GetMetricData R "cloudwatch:GetMetricData"),
    op!(monitoring ListMetrics R "cloudwatch:ListMetrics"),
    op!(monitoring DescribeAlarms R "cloudwatch:DescribeAlarms"),
    op!(monitoring PutMetricAlarm - "cloudwatch:PutMetricAlarm"),
    op!(sts GetCallerIdentity R),
    op!(sts AssumeRole R),
    op!(cloudtrail DescribeTrails R),
    op!(cloudtrail GetTrailStatus R),
    op!(cloudtrail LookupEvents R),
    op!(config DescribeConfigRules R),
    op!(ssm GetParameters R),
    op!(secretsmanager GetSecretValue R),
    op!(ce GetCostAndUsage RG),
    op!(cloudformation DescribeStacks R),
    op!(dynamodb DescribeTable R),
];

/// Not called by sessions: written by dedicated activities.
pub(crate) static ASSUME_ROLE: Op = op!(sts AssumeRole R);
pub(crate) static CONSOLE_LOGIN: Op = op!(signin ConsoleLogin G);
pub(crate) static ROTATE_KEY: Op = op!(kms RotateKey -);

/// Look up `"service:EventName"` (service = first label of the event source).
pub(crate) fn find(qualified: &str) -> Option<&'static Op> {
    let (svc, name) = qualified.split_once(':')?;
    OPS.iter()
        .find(|o| o.name == name && o.source.split('.').next() == Some(svc))
}

pub(crate) const FUNCTIONS: [&str; 4] = [
    "orders-api",
    "image-resize",
    "nightly-report",
    "auth-authorizer",
];

/// Everything of a record that depends on the operation.
#[derive(Default)]
pub(crate) struct Body {
    pub req: Option<String>,
    pub resp: Option<String>,
    pub extra: Option<String>,
    pub resources: Option<String>,
}

pub(crate) struct Ctx<'a> {
    pub acct: &'a Account,
    pub region: &'a str,
    pub t: i64,
    /// Index into the account's buckets when the caller may only use one.
    pub bucket: Option<usize>,
}

fn resource(j: &mut Json, acct: Option<&str>, ty: &str, arn: &str) {
    j.obj();
    if let Some(a) = acct {
        j.ks("accountId", a);
    }
    j.ks("type", ty).ks("ARN", arn).end();
}

fn s3_extra(rng: &mut Rng, bytes_in: i64, bytes_out: i64) -> String {
    let id2 = rng.alnum(76);
    Json::text(|j| {
        j.obj()
            .ks("SignatureVersion", "SigV4")
            .ks("CipherSuite", "TLS_AES_128_GCM_SHA256");
        j.k("bytesTransferredIn")
            .n(bytes_in)
            .ks("AuthenticationMethod", "AuthHeader");
        j.ks("x-amz-id-2", &id2)
            .k("bytesTransferredOut")
            .n(bytes_out)
            .end();
    })
}

fn instance_items(j: &mut Json, ids: &[&String], cur: (i64, &str), prev: (i64, &str)) {
    j.k("instancesSet").obj().k("items").arr();
    for id in ids {
        j.obj().ks("instanceId", id);
        j.k("currentState")
            .obj()
            .k("code")
            .n(cur.0)
            .ks("name", cur.1)
            .end();
        j.k("previousState")
            .obj()
            .k("code")
            .n(prev.0)
            .ks("name", prev.1)
            .end()
            .end();
    }
    j.end_arr().end();
}

fn lambda_config(j: &mut Json, rng: &mut Rng, c: &Ctx, f: &str) {
    let id = &c.acct.id;
    j.obj().ks("functionName", f);
    j.ks(
        "functionArn",
        &format!("arn:aws:lambda:{}:{id}:function:{f}", c.region),
    );
    j.ks("runtime", "python3.12")
        .ks("role", &format!("arn:aws:iam::{id}:role/{f}-lambda"));
    j.ks("handler", "app.handler")
        .k("codeSize")
        .n(rng.range(4_000, 9_000_000) as i64);
    j.ks("description", "")
        .k("timeout")
        .n(30)
        .k("memorySize")
        .n(512);
    j.ks("lastModified", &format!("{}.000+0000", &iso(c.t)[..19]));
    j.ks("codeSha256", &rng.alnum(43)).ks("version", "$LATEST");
    j.k("vpcConfig").obj().k("subnetIds").arr();
    for _ in 0..3 {
        j.s(&format!("subnet-0{}", rng.hex(16)));
    }
    j.end_arr()
        .k("securityGroupIds")
        .arr()
        .s(&c.acct.security_groups[0])
        .end_arr();
    j.ks("vpcId", "vpc-0a1b2c3d4e5f67890").end();
    j.k("environment").obj().k("variables").obj();
    for k in [
        "LOG_LEVEL",
        "TABLE_NAME",
        "QUEUE_URL",
        "FEATURE_FLAGS",
        "POWERTOOLS_SERVICE_NAME",
    ] {
        j.ks(k, "HIDDEN_DUE_TO_SECURITY_REASONS");
    }
    j.end().end();
    j.k("tracingConfig").obj().ks("mode", "Active").end();
    j.ks("revisionId", &rng.uuid()).k("layers").arr();
    j.obj().ks(
        "arn",
        &format!(
            "arn:aws:lambda:{}:{id}:layer:shared-deps:{}",
            c.region,
            rng.range(3, 40)
        ),
    );
    j.k("codeSize")
        .n(rng.range(100_000, 20_000_000) as i64)
        .end()
        .end_arr();
    j.ks("state", "Active")
        .ks("lastUpdateStatus", "InProgress")
        .ks("packageType", "Zip");
    j.k("architectures").arr().s("arm64").end_arr();
    j.k("ephemeralStorage").obj().k("size").n(512).end();
    j.k("snapStart")
        .obj()
        .ks("applyOn", "None")
        .ks("optimizationStatus", "Off")
        .end();
    j.k("loggingConfig")
        .obj()
        .ks("logFormat", "Text")
        .ks("logGroup", &format!("/aws/lambda/{f}"))
        .end()
        .end();
}

/// A policy document as IAM returns it inside `requestParameters`: a JSON *string*.
fn policy_text(rng: &mut Rng, acct: &str) -> String {
    let n = rng.range(2, 24);
    Json::text(|j| {
        j.obj().ks("Version", "2012-10-17").k("Statement").arr();
        for i in 0..n {
            j.obj().ks("Sid", &format!("Stmt{i}")).ks("Effect", "Allow");
            j.k("Action")
                .arr()
                .s("s3:GetObject")
                .s("s3:PutObject")
                .s("s3:ListBucket")
                .end_arr();
            j.k("Resource")
                .arr()
                .s(&format!("arn:aws:s3:::anycompany-app-{acct}-{i}"));
            j.s(&format!("arn:aws:s3:::anycompany-app-{acct}-{i}/*"))
                .end_arr()
                .end();
        }
        j.end_arr().end();
    })
}

pub(crate) fn body(rng: &mut Rng, op: &Op, c: &Ctx) -> Body {
    let a = c.acct;
    let id = a.id.as_str();
    let inst = rng.pick(&a.instances);
    let bucket = match c.bucket {
        Some(i) => &a.buckets[i],
        None => rng.pick(&a.buckets),
    };
    let key_arn = format!(
        "arn:aws:kms:{}:{id}:key/{}",
        c.region,
        rng.pick(&a.kms_keys)
    );
    let f = *rng.pick(&FUNCTIONS);
    let mut b = Body::default();
    match op.name {
        "DescribeInstances" => {
            b.req = Some(if rng.chance(0.5) {
                Json::text(|j| { j.obj().k("instancesSet").obj().k("items").arr().obj().ks("instanceId", inst).end().end_arr().end().k("filterSet").obj().end().end(); })
            } else {
                r#"{"instancesSet":{},"filterSet":{"items":[{"name":"instance-state-name","valueSet":{"items":[{"value":"running"},{"value":"stopped"}]}}]}}"#.into()
            });
        }
        "DescribeVolumes" => b.req = Some(r#"{"volumeSet":{},"filterSet":{}}"#.into()),
        "DescribeSecurityGroups" => {
            let sg = rng.pick(&a.security_groups);
            b.req = Some(Json::text(|j| { j.obj().k("securityGroupSet").obj().end().k("securityGroupIdSet").obj().k("items").arr().obj().ks("groupId", sg).end().end_arr().end().k("filterSet").obj().end().end(); }));
        }
        "DescribeSnapshots" => b.req = Some(r#"{"snapshotSet":{},"ownersSet":{"items":[{"owner":"self"}]},"sharedUsersSet":{},"filterSet":{}}"#.into()),
        "DescribeRegions" => b.req = Some(r#"{"regionSet":{},"allRegions":false}"#.into()),
        "StopInstances" | "StartInstances" => {
            let stop = op.name == "StopInstances";
            b.req = Some(Json::text(|j| {
                j.obj().k("instancesSet").obj().k("items").arr().obj().ks("instanceId", inst).end().end_arr().end();
                if stop { j.k("force").b(false); }
                j.end();
            }));
            let (cur, prev) = if stop { ((64, "stopping"), (16, "running")) } else { ((0, "pending"), (80, "stopped")) };
            b.resp = Some(Json::text(|j| { j.obj().ks("requestId", &rng.uuid()); instance_items(j, &[inst], cur, prev); j.end(); }));
        }
        "CreateSnapshot" => {
            let vol = rng.pick(&a.volumes);
            b.req = Some(Json::text(|j| { j.obj().ks("volumeId", vol).ks("description", "scheduled backup").end(); }));
            b.resp = Some(Json::text(|j| {
                j.obj().ks("requestId", &rng.uuid()).ks("snapshotId", &format!("snap-0{}", rng.hex(16))).ks("volumeId", vol);
                j.ks("status", "pending").k("startTime").n(c.t * 1000).ks("progress", "").ks("ownerId", id);
                j.k("volumeSize").n(100).k("encrypted").b(true).ks("kmsKeyId", &key_arn).end();
            }));
        }
        "RunInstances" => {
            let n = rng.range(1, 4) as usize;
            let ids: Vec<String> = (0..n).map(|_| format!("i-0{}", rng.hex(16))).collect();
            b.req = Some(Json::text(|j| {
                j.obj().k("instancesSet").obj().k("items").arr().obj().ks("imageId", "ami-0abcdef1234567890").k("minCount").n(n as i64).k("maxCount").n(n as i64).end().end_arr().end();
                j.ks("instanceType", "m7g.large").k("blockDeviceMapping").obj().end().k("monitoring").obj().k("enabled").b(false).end();
                j.k("disableApiTermination").b(false).k("disableApiStop").b(false).k("clientToken").s(&rng.uuid()).end();
            }));
            b.resp = Some(Json::text(|j| {
                j.obj().ks("requestId", &rng.uuid()).ks("reservationId", &format!("r-0{}", rng.hex(16))).ks("ownerId", id);
                j.k("groupSet").obj().end().k("instancesSet").obj().k("items").arr();
                for (i, iid) in ids.iter().enumerate() {
                    j.obj().ks("instanceId", iid).ks("imageId", "ami-0abcdef1234567890").k("instanceState").obj().k("code").n(0).ks("name", "pending").end();
                    j.ks("privateDnsName", &format!("ip-10-0-{}-{}.ec2.internal", rng.below(255), rng.below(255))).k("amiLaunchIndex").n(i as i64);
                    j.k("productCodes").obj().end().ks("instanceType", "m7g.large").k("launchTime").n(c.t * 1000);
                    j.k("placement").obj().ks("availabilityZone", &format!("{}a", c.region)).ks("tenancy", "default").end();
                    j.k("monitoring").obj().ks("state", "disabled").end().ks("subnetId", &format!("subnet-0{}", rng.hex(16)));
                    j.ks("vpcId", "vpc-0a1b2c3d4e5f67890").ks("privateIpAddress", &format!("10.0.{}.{}", rng.below(255), rng.below(255)));
                    j.k("stateReason").obj().ks("code", "pending").ks("message", "pending").end().ks("architecture", "arm64");
                    j.ks("rootDeviceType", "ebs").ks("rootDeviceName", "/dev/xvda").k("blockDeviceMapping").obj().end();
                    j.ks("virtualizationType", "hvm").ks("hypervisor", "xen").k("groupSet").obj().k("items").arr();
                    j.obj().ks("groupId", &a.security_groups[0]).ks("groupName", "app-servers").end().end_arr().end();
                    j.k("networkInterfaceSet").obj().k("items").arr().obj().ks("networkInterfaceId", &format!("eni-0{}", rng.hex(16)));
                    j.ks("macAddress", "0a:1b:2c:3d:4e:5f").ks("status", "in-use").k("sourceDestCheck").b(true).end().end_arr().end();
                    j.k("ebsOptimized").b(true).k("enaSupport").b(true).k("cpuOptions").obj().k("coreCount").n(2).k("threadsPerCore").n(1).end();
                    j.k("metadataOptions").obj().ks("state", "pending").ks("httpTokens", "required").k("httpPutResponseHopLimit").n(2).ks("httpEndpoint", "enabled").end();
                    j.k("enclaveOptions").obj().k("enabled").b(false).end().ks("bootMode", "uefi").end();
                }
                j.end_arr().end().end();
            }));
        }
        "CreateTags" => {
            let n = rng.range(1, 12);
            b.req = Some(Json::text(|j| {
                j.obj().k("resourcesSet").obj().k("items").arr().obj().ks("resourceId", inst).end().end_arr().end();
                j.k("tagSet").obj().k("items").arr();
                for i in 0..n { j.obj().ks("key", &format!("team-{i}")).ks("value", &rng.alnum(12)).end(); }
                j.end_arr().end().end();
            }));
            b.resp = Some(Json::text(|j| { j.obj().ks("requestId", &rng.uuid()).k("_return").b(true).end(); }));
        }
        "ListBuckets" => {
            b.req = Some(r#"{"Host":"s3.amazonaws.com"}"#.into());
            b.extra = Some(s3_extra(rng, 0, 0));
        }
        "GetBucketLocation" | "GetBucketPolicy" | "GetBucketAcl" | "GetObject" | "PutObject" | "ListObjects" => {
            let key = format!("exports/{}/part-{:05}.parquet", &iso(c.t)[..10], rng.below(4000));
            let sub = match op.name { "GetBucketLocation" => "location", "GetBucketPolicy" => "policy", "GetBucketAcl" => "acl", _ => "" };
            b.req = Some(Json::text(|j| {
                j.obj().ks("bucketName", bucket).ks("Host", &format!("{bucket}.s3.{}.amazonaws.com", c.region));
                match op.name {
                    "GetObject" | "PutObject" => { j.ks("key", &key); }
                    "ListObjects" => { j.ks("list-type", "2").ks("prefix", "exports/").ks("encoding-type", "url"); }
                    _ => { j.ks(sub, ""); }
                }
                j.end();
            }));
            let size = rng.range(1_000, 300_000_000) as i64;
            b.extra = Some(s3_extra(rng, if op.name == "PutObject" { size } else { 0 }, if op.name == "GetObject" { size } else { 0 }));
            if op.name == "PutObject" {
                b.resp = Some(Json::text(|j| { j.obj().ks("x-amz-server-side-encryption", "aws:kms").ks("x-amz-server-side-encryption-aws-kms-key-id", &key_arn).end(); }));
            }
            b.resources = Some(Json::text(|j| {
                j.arr();
                if op.data && op.name != "ListObjects" { resource(j, None, "AWS::S3::Object", &format!("arn:aws:s3:::{bucket}/{key}")); }
                resource(j, Some(id), "AWS::S3::Bucket", &format!("arn:aws:s3:::{bucket}"));
                j.end_arr();
            }));
        }
        "GetRole" | "ListAttachedRolePolicies" => b.req = Some(format!(r#"{{"roleName":"{f}-lambda"}}"#)),
        "GetAccountAuthorizationDetails" => b.req = Some(r#"{"filter":["Role","User","LocalManagedPolicy","AWSManagedPolicy"],"maxItems":1000}"#.into()),
        "PutRolePolicy" => {
            let doc = policy_text(rng, id);
            b.req = Some(Json::text(|j| { j.obj().ks("roleName", &format!("{f}-lambda")).ks("policyName", "app-data-access").ks("policyDocument", &doc).end(); }));
        }
        "CreateUser" => b.req = Some(r#"{"userName":"delta-breakglass"}"#.into()),
        "Decrypt" | "GenerateDataKey" => {
            b.req = Some(Json::text(|j| {
                j.obj();
                if op.name == "GenerateDataKey" { j.ks("keyId", &key_arn).ks("keySpec", "AES_256"); }
                j.ks("encryptionAlgorithm", "SYMMETRIC_DEFAULT").k("encryptionContext").obj().ks("aws:s3:arn", &format!("arn:aws:s3:::{bucket}")).end().end();
            }));
            b.resources = Some(Json::text(|j| { j.arr(); resource(j, Some(id), "AWS::KMS::Key", &key_arn); j.end_arr(); }));
        }
        "DescribeKey" | "GetKeyRotationStatus" => {
            b.req = Some(format!(r#"{{"keyId":"{key_arn}"}}"#));
            b.resources = Some(Json::text(|j| { j.arr(); resource(j, Some(id), "AWS::KMS::Key", &key_arn); j.end_arr(); }));
        }
        "CreateGrant" => {
            b.req = Some(Json::text(|j| {
                j.obj().ks("keyId", &key_arn).ks("granteePrincipal", "backup.amazonaws.com").k("operations").arr().s("Decrypt").s("GenerateDataKeyWithoutPlaintext").s("DescribeKey").end_arr();
                j.ks("retiringPrincipal", "backup.amazonaws.com").end();
            }));
            b.resp = Some(Json::text(|j| { j.obj().ks("grantId", &rng.hex(64)).ks("keyId", &key_arn).end(); }));
            b.resources = Some(Json::text(|j| { j.arr(); resource(j, Some(id), "AWS::KMS::Key", &key_arn); j.end_arr(); }));
        }
        "GetFunction20150331v2" => b.req = Some(format!(r#"{{"functionName":"{f}"}}"#)),
        "UpdateFunctionConfiguration20150331v2" | "UpdateFunctionCode20150331v2" => {
            b.req = Some(if op.name.starts_with("UpdateFunctionCode") {
                format!(r#"{{"functionName":"{f}","publish":false,"dryRun":false,"s3Bucket":"{bucket}","s3Key":"builds/{f}/{}.zip"}}"#, rng.hex(40))
            } else {
                Json::text(|j| { j.obj().ks("functionName", f).k("memorySize").n(512).k("timeout").n(30).k("environment").obj().ks("variables", "HIDDEN_DUE_TO_SECURITY_REASONS").end().end(); })
            });
            b.resp = Some(Json::text(|j| lambda_config(j, rng, c, f)));
        }
        "DescribeLogGroups" => b.req = Some(r#"{"logGroupNamePrefix":"/aws/lambda/","limit":50}"#.into()),
        "DescribeLogStreams" => b.req = Some(format!(r#"{{"logGroupName":"/aws/lambda/{f}","orderBy":"LastEventTime","descending":true}}"#)),
        "FilterLogEvents" => b.req = Some(format!(r#"{{"logGroupName":"/aws/lambda/{f}","startTime":{},"filterPattern":"ERROR"}}"#, (c.t - 3600) * 1000)),
        "CreateLogStream" => b.req = Some(format!(r#"{{"logGroupName":"/aws/lambda/{f}","logStreamName":"{}/[$LATEST]{}"}}"#, iso(c.t)[..10].replace('-', "/"), rng.hex(32))),
        "GetMetricData" => {
            let n = rng.range(1, 20);
            b.req = Some(Json::text(|j| {
                j.obj().k("metricDataQueries").arr();
                for i in 0..n {
                    j.obj().ks("id", &format!("m{i}")).k("metricStat").obj().k("metric").obj().ks("namespace", "AWS/EC2").ks("metricName", "CPUUtilization");
                    j.k("dimensions").arr().obj().ks("name", "InstanceId").ks("value", &a.instances[i as usize % a.instances.len()]).end().end_arr().end();
                    j.k("period").n(300).ks("stat", "Average").end().k("returnData").b(true).end();
                }
                j.end_arr().ks("startTime", &iso(c.t - 3600)).ks("endTime", &iso(c.t)).end();
            }));
        }
        "ListMetrics" => b.req = Some(r#"{"namespace":"AWS/EC2","metricName":"CPUUtilization"}"#.into()),
        "DescribeAlarms" => b.req = Some(r#"{"stateValue":"ALARM","maxRecords":100}"#.into()),
        "PutMetricAlarm" => b.req = Some(format!(r#"{{"alarmName":"{f}-errors","metricName":"Errors","namespace":"AWS/Lambda","statistic":"Sum","period":300,"evaluationPeriods":1,"threshold":1.0,"comparisonOperator":"GreaterThanOrEqualToThreshold","dimensions":[{{"name":"FunctionName","value":"{f}"}}]}}"#)),
        "DescribeTrails" => b.req = Some(r#"{"includeShadowTrails":true}"#.into()),
        "GetTrailStatus" => b.req = Some(format!(r#"{{"name":"arn:aws:cloudtrail:us-east-1:{id}:trail/management-events"}}"#)),
        "LookupEvents" => b.req = Some(r#"{"lookupAttributes":[{"attributeKey":"EventName","attributeValue":"ConsoleLogin"}],"maxResults":50}"#.into()),
        "DescribeConfigRules" => b.req = Some(r#"{"configRuleNames":[]}"#.into()),
        "GetParameters" => b.req = Some(format!(r#"{{"names":["/{}/db/password","/{}/api/token"],"withDecryption":true}}"#, a.name, a.name)),
        "GetSecretValue" => b.req = Some(format!(r#"{{"secretId":"arn:aws:secretsmanager:{}:{id}:secret:{}/db-{}"}}"#, c.region, a.name, rng.alnum(6))),
        "GetCostAndUsage" => b.req = Some(r#"{"timePeriod":{"start":"2026-06-01","end":"2026-07-01"},"granularity":"DAILY","metrics":["UnblendedCost","UsageQuantity"],"groupBy":[{"type":"DIMENSION","key":"SERVICE"}]}"#.into()),
        "DescribeStacks" => b.req = Some(format!(r#"{{"stackName":"{f}-{}"}}"#, a.name)),
        "DescribeTable" => b.req = Some(r#"{"tableName":"orders"}"#.into()),
        _ => {} // GetCallerIdentity, ListRoles, ListKeys, ListFunctions...: no parameters
    }
    b
}
