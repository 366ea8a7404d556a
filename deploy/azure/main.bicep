// entra-sso on Azure Functions: a Linux Consumption function app running the `entra-sso` custom
// handler, its storage account, optional Application Insights, and a Key Vault holding
// SSO_SECRET and SSO_CLIENT_SECRET, which the app reads through Key Vault references with its
// system-assigned managed identity (role "Key Vault Secrets User" on the vault). With Application
// Insights: a sign-in workbook and three alert rules (docs/azure.md, Dashboard and alerts).
//
// Deploy the infrastructure, then the code (docs/azure.md has each step):
//   az deployment group create -g <rg> -f deploy/azure/main.bicep \
//     -p appName=<app> clientId=<client id> tenantId=<tenant id> \
//        ssoSecret="$(openssl rand -base64 32)" clientSecret=<client secret value>
//   scripts/package-azure.sh
//   az functionapp deployment source config-zip -g <rg> -n <app> --src dist/entra-sso-azure.zip
//
// Secretless: clientCredential=managed-identity creates a user-assigned identity for the app and
// prints the issuer and subject of the federated credential to add to the app registration;
// clientCredential=certificate stores the PEM in the vault (docs/azure.md, Client credentials).
//
// The deploying principal needs to create role assignments (Owner, or User Access Administrator
// plus Contributor) because the template grants the app's identity access to the vault.

targetScope = 'resourceGroup'

// ---- Where and what ------------------------------------------------------------------------

@description('Region of every resource.')
param location string = resourceGroup().location

@description('Function app name; the app is served at https://<appName>.azurewebsites.net.')
@minLength(2)
@maxLength(60)
param appName string

@description('Create Application Insights (and its Log Analytics workspace) for the host and handler logs.')
param enableApplicationInsights bool = true

// ---- Sign-in settings (the SSO_* app settings; see the README's configuration table) --------

@description('SSO_CLIENT_ID: the app registration\'s Application (client) ID.')
param clientId string

@description('SSO_TENANT_ID: Directory (tenant) ID or domain, or organizations / common / consumers. Empty only when authority is set.')
param tenantId string = ''

@description('SSO_AUTHORITY: a full authority URL instead of tenantId (national clouds, External ID, any OpenID provider).')
param authority string = ''

@description('SSO_REDIRECT_URI: the public URL of /api/callback, exactly as registered. Empty means https://<appName>.azurewebsites.net/api/callback.')
param redirectUri string = ''

@secure()
@minLength(32)
@description('SSO_SECRET, stored in Key Vault: one or more comma-separated random values of at least 32 bytes (entra-sso keygen, or openssl rand -base64 32).')
param ssoSecret string

@secure()
@description('SSO_CLIENT_SECRET, stored in Key Vault: the app registration\'s client secret value. Empty for a public client, and with clientCredential certificate or managed-identity.')
param clientSecret string = ''

@description('SSO_CLIENT_CREDENTIAL: how the token request authenticates. Empty or secret (clientSecret), certificate (clientCertificate), or managed-identity: no stored credential, the user-assigned identity this template creates is trusted by the app registration through a federated credential (docs/azure.md, Client credentials).')
@allowed(['', 'secret', 'certificate', 'managed-identity'])
param clientCredential string = ''

@secure()
@description('SSO_CLIENT_CERTIFICATE, stored in Key Vault, with clientCredential certificate: the PEM private key and certificate.')
param clientCertificate string = ''

@description('SSO_ALLOWED_TENANTS: tenant ids allowed to sign in (required with organizations / common; * for any).')
param allowedTenants string = ''

@description('SSO_REQUIRED_ROLES: app roles, any of which the user must hold.')
param requiredRoles string = ''

@description('SSO_ALLOWED_GROUPS: group object ids, any of which the user must be in.')
param allowedGroups string = ''

@description('SSO_SESSION_GROUPS: group object ids sessions keep (with allowedGroups); empty keeps every group.')
param sessionGroups string = ''

@description('SSO_ALLOWED_EMAIL_DOMAINS: e-mail domains (only with a single tenant or an allowedTenants list).')
param allowedEmailDomains string = ''

@description('SSO_RETURN_ORIGINS: absolute origins allowed in return_to (default: same-site paths only).')
param returnOrigins string = ''

@description('SSO_SCOPES: scopes beyond openid profile email.')
param scopes string = ''

@description('SSO_STATE_TTL: sign-in lifetime, e.g. 10m (default 10 min).')
param stateTtl string = ''

@description('SSO_SESSION_TTL: session renewal lifetime, e.g. 1h (default 1 h).')
param sessionTtl string = ''

@description('SSO_SESSION_MAX_AGE: absolute limit from the interactive sign-in, e.g. 24h (default 24 h).')
param sessionMaxAge string = ''

@description('SSO_POST_LOGOUT_REDIRECT_URI: where the IdP sends the user after logout (register it too).')
param postLogoutRedirectUri string = ''

@description('SSO_LOGOUT: idp (default, also signs out at Microsoft) or local.')
@allowed(['', 'idp', 'local'])
param logout string = ''

@description('SSO_RESPONSE_MODE: query (default) or form_post.')
@allowed(['', 'query', 'form_post'])
param responseMode string = ''

@description('SSO_SESSION_NOT_BEFORE: a Unix time; sessions issued earlier are invalid.')
param sessionNotBefore string = ''

@description('SSO_SESSION_AUDIENCE: the aud of sessions that other apps check (default the client id).')
param sessionAudience string = ''

@description('SSO_API_AUDIENCES: comma-separated aud values of access tokens accepted as Authorization Bearer (default the client id and api://<client id>).')
param apiAudiences string = ''

@description('SSO_API_CLIENTS: comma-separated client ids app-only callers may have (default any app-only caller of an admitted tenant).')
param apiClients string = ''

@description('SSO_COOKIE_DOMAIN: a parent domain you own to share the session with sibling subdomains (never a public suffix such as azurewebsites.net).')
param cookieDomain string = ''

@description('SSO_LOG_FORMAT: json for one JSON object per log line.')
@allowed(['', 'json'])
param logFormat string = 'json'

@description('SSO_EVENTS: how each sign-in is reported; log (default here) writes one INFO line the workbook and alerts read.')
@allowed(['', 'log', 'emf'])
param events string = ''

// ---- Dashboard and alerts (with enableApplicationInsights) ---------------------------------

@description('E-mail address the sign-in alerts go to (an action group). Empty: the alert rules are created without an action and show in Azure Monitor only.')
param alertEmail string = ''

@description('Failure-rate alert: fires when more than this percentage of sign-ins in 15 minutes failed (an error outcome, not success or renewal_interactive).')
@minValue(1)
@maxValue(100)
param alertFailureRatePercent int = 20

@description('Failure-rate alert: the fewest sign-ins in 15 minutes for the rate to count (a quiet app with two sign-ins, one failed, is not an incident).')
@minValue(1)
param alertMinimumSignIns int = 10

// ---- Names ----------------------------------------------------------------------------------

var suffix = uniqueString(resourceGroup().id, appName)
var storageName = 'st${suffix}'
var vaultName = 'kv-${suffix}'
var planName = '${appName}-plan'
var callbackUrl = empty(redirectUri) ? 'https://${appName}.azurewebsites.net/api/callback' : redirectUri
var usesManagedIdentity = clientCredential == 'managed-identity'
// Built-in role "Key Vault Secrets User": read secret contents.
var keyVaultSecretsUserRole = '4633458b-17de-408a-b874-0445c86b69e6'

// ---- Resources ------------------------------------------------------------------------------

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
  }
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = if (enableApplicationInsights) {
  name: '${appName}-logs'
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = if (enableApplicationInsights) {
  name: '${appName}-insights'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
  }
}

resource ssoSecretEntry 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'sso-secret'
  properties: {
    value: ssoSecret
  }
}

resource clientSecretEntry 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(clientSecret) && (clientCredential == '' || clientCredential == 'secret')) {
  parent: vault
  name: 'sso-client-secret'
  properties: {
    value: clientSecret
  }
}

resource clientCertificateEntry 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (clientCredential == 'certificate' && !empty(clientCertificate)) {
  parent: vault
  name: 'sso-client-certificate'
  properties: {
    value: clientCertificate
    contentType: 'application/x-pem-file'
  }
}

// managed-identity: the identity whose tokens the app registration trusts (a federated
// credential with this tenant's issuer and the identity's principal id as subject; the outputs
// give both). User-assigned, so it survives the app being recreated.
resource signInIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = if (usesManagedIdentity) {
  name: '${appName}-sign-in'
  location: location
}

// Linux Consumption (Y1, Dynamic). Microsoft retires Linux Consumption on 30 September 2028;
// see docs/azure.md for Flex Consumption.
resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  name: planName
  location: location
  kind: 'functionapp'
  sku: {
    name: 'Y1'
    tier: 'Dynamic'
  }
  properties: {
    reserved: true // Linux
  }
}

var storageConnection = 'DefaultEndpointsProtocol=https;AccountName=${storage.name};EndpointSuffix=${environment().suffixes.storage};AccountKey=${storage.listKeys().keys[0].value}'

// A Key Vault reference: the platform resolves it with the app's managed identity and hands the
// handler the plain value; the versionless URI follows the secret's latest version.
var ssoSecretReference = '@Microsoft.KeyVault(SecretUri=${ssoSecretEntry.properties.secretUri})'
var clientSecretSettings = (empty(clientSecret) || !(clientCredential == '' || clientCredential == 'secret')) ? [] : [
  {
    name: 'SSO_CLIENT_SECRET'
    value: '@Microsoft.KeyVault(SecretUri=${clientSecretEntry.properties.secretUri})'
  }
]
var clientCertificateSettings = (clientCredential == 'certificate' && !empty(clientCertificate)) ? [
  {
    name: 'SSO_CLIENT_CERTIFICATE'
    value: '@Microsoft.KeyVault(SecretUri=${clientCertificateEntry.properties.secretUri})'
  }
] : []
var managedIdentitySettings = usesManagedIdentity ? [
  {
    name: 'SSO_MANAGED_IDENTITY_CLIENT_ID'
    value: signInIdentity.properties.clientId
  }
] : []
var insightsSettings = enableApplicationInsights ? [
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: insights.properties.ConnectionString
  }
] : []

var platformSettings = [
  {
    name: 'FUNCTIONS_EXTENSION_VERSION'
    value: '~4'
  }
  {
    // The custom handler: the host starts `entra-sso serve` as host.json says.
    name: 'FUNCTIONS_WORKER_RUNTIME'
    value: 'custom'
  }
  {
    name: 'AzureWebJobsStorage'
    value: storageConnection
  }
]

var ssoSettings = [
  {
    name: 'SSO_CLIENT_ID'
    value: clientId
  }
  {
    name: 'SSO_TENANT_ID'
    value: tenantId
  }
  {
    name: 'SSO_AUTHORITY'
    value: authority
  }
  {
    name: 'SSO_REDIRECT_URI'
    value: callbackUrl
  }
  {
    name: 'SSO_SECRET'
    value: ssoSecretReference
  }
  {
    name: 'SSO_CLIENT_CREDENTIAL'
    value: clientCredential
  }
  {
    name: 'SSO_ALLOWED_TENANTS'
    value: allowedTenants
  }
  {
    name: 'SSO_REQUIRED_ROLES'
    value: requiredRoles
  }
  {
    name: 'SSO_ALLOWED_GROUPS'
    value: allowedGroups
  }
  {
    name: 'SSO_SESSION_GROUPS'
    value: sessionGroups
  }
  {
    name: 'SSO_ALLOWED_EMAIL_DOMAINS'
    value: allowedEmailDomains
  }
  {
    name: 'SSO_RETURN_ORIGINS'
    value: returnOrigins
  }
  {
    name: 'SSO_SCOPES'
    value: scopes
  }
  {
    name: 'SSO_STATE_TTL'
    value: stateTtl
  }
  {
    name: 'SSO_SESSION_TTL'
    value: sessionTtl
  }
  {
    name: 'SSO_SESSION_MAX_AGE'
    value: sessionMaxAge
  }
  {
    name: 'SSO_POST_LOGOUT_REDIRECT_URI'
    value: postLogoutRedirectUri
  }
  {
    name: 'SSO_LOGOUT'
    value: logout
  }
  {
    name: 'SSO_RESPONSE_MODE'
    value: responseMode
  }
  {
    name: 'SSO_SESSION_NOT_BEFORE'
    value: sessionNotBefore
  }
  {
    name: 'SSO_SESSION_AUDIENCE'
    value: sessionAudience
  }
  {
    name: 'SSO_API_AUDIENCES'
    value: apiAudiences
  }
  {
    name: 'SSO_API_CLIENTS'
    value: apiClients
  }
  {
    name: 'SSO_COOKIE_DOMAIN'
    value: cookieDomain
  }
  {
    name: 'SSO_LOG_FORMAT'
    value: logFormat
  }
  {
    name: 'SSO_EVENTS'
    value: events
  }
]

resource app 'Microsoft.Web/sites@2023-12-01' = {
  name: appName
  location: location
  kind: 'functionapp,linux'
  identity: usesManagedIdentity ? {
    type: 'SystemAssigned, UserAssigned'
    userAssignedIdentities: {
      '${signInIdentity.id}': {}
    }
  } : {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    reserved: true
    httpsOnly: true
    keyVaultReferenceIdentity: 'SystemAssigned'
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: concat(platformSettings, insightsSettings, ssoSettings, clientSecretSettings, clientCertificateSettings, managedIdentitySettings)
    }
  }
}

// The app's identity may read the vault's secrets (and nothing else).
resource appReadsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, app.id, keyVaultSecretsUserRole)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRole)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// ---- Dashboard and alerts ------------------------------------------------------------------
//
// The handler logs one sign-in event per callback outcome; the Functions host writes the line to
// Application Insights `traces` (message = the line). With SSO_LOG_FORMAT=json the sign-in fields
// are under `fields` (docs/azure.md, Dashboard and alerts). Every query below starts here.
var signInEvents = [
  'traces'
  '| where message has \'"event":"sign_in"\''
  '| extend e = parse_json(message).fields'
  '| where tostring(e.event) == \'sign_in\''
  '| extend outcome = tostring(e.outcome), tenant = tostring(e.tenant), aadsts = tostring(e.aadsts)'
  '| extend credential = tostring(e.credential), renewal = tobool(e.renewal), status = toint(e.status)'
  '| extend duration_ms = toint(e.duration_ms), idp_ms = toint(e.idp_ms)'
  '| extend failed = outcome !in (\'success\', \'renewal_interactive\')'
]

// Each query: the lines above, then its own; one KQL line per array element.
var workbookQueries = {
  summary: join(concat(signInEvents, [
    '| summarize sign_ins = count(), failures = countif(failed), renewal_interactive = countif(outcome == \'renewal_interactive\'), p95_duration_ms = percentile(duration_ms, 95)'
    '| extend failure_percent = round(100.0 * failures / sign_ins, 1)'
  ]), '\n')
  byOutcome: join(concat(signInEvents, [
    '| summarize sign_ins = count() by bin(timestamp, 1m), outcome'
    '| render timechart'
  ]), '\n')
  failuresByCode: join(concat(signInEvents, [
    '| where failed'
    '| summarize failures = count() by outcome'
    '| order by failures desc'
  ]), '\n')
  failuresByAadsts: join(concat(signInEvents, [
    '| where failed and aadsts != \'\''
    '| summarize failures = count(), last_seen = max(timestamp) by aadsts, outcome, credential'
    '| order by failures desc'
  ]), '\n')
  idpRoundTrip: join(concat(signInEvents, [
    '| where idp_ms > 0'
    '| summarize p50 = percentile(idp_ms, 50), p95 = percentile(idp_ms, 95) by bin(timestamp, 5m)'
    '| render timechart'
  ]), '\n')
  callbackDuration: join(concat(signInEvents, [
    '| summarize p50 = percentile(duration_ms, 50), p95 = percentile(duration_ms, 95) by bin(timestamp, 5m)'
    '| render timechart'
  ]), '\n')
}

// A workbook item showing one query's result over the workbook's time range.
var queryItemDefaults = {
  version: 'KqlItem/1.0'
  size: 0
  timeContext: {
    durationMs: 0
  }
  timeContextFromParameter: 'TimeRange'
  queryType: 0
  resourceType: 'microsoft.insights/components'
}

var workbookContent = {
  version: 'Notebook/1.0'
  items: [
    {
      type: 1
      content: {
        json: '## entra-sso sign-ins\n\nOne row per sign-in at `/api/callback`: its outcome (`success`, `renewal_interactive`, or an error code such as `token_exchange_failed`), tenant, duration, IdP round trip (token call and Graph) and AADSTS code. Failures are every outcome other than `success` and `renewal_interactive`. Read from the handler\'s JSON log lines in `traces`; docs/azure.md, Dashboard and alerts, explains each chart and the alert rules.'
      }
      name: 'description'
    }
    {
      type: 9
      content: {
        version: 'KqlParameterItem/1.0'
        parameters: [
          {
            id: 'b7c4a6f0-4d5e-4f53-9a61-2f6b0c1d9e01'
            version: 'KqlParameterItem/1.0'
            name: 'TimeRange'
            label: 'Time range'
            type: 4
            isRequired: true
            value: {
              durationMs: 86400000
            }
            typeSettings: {
              selectableValues: [
                {
                  durationMs: 3600000
                }
                {
                  durationMs: 14400000
                }
                {
                  durationMs: 43200000
                }
                {
                  durationMs: 86400000
                }
                {
                  durationMs: 259200000
                }
                {
                  durationMs: 604800000
                }
              ]
              allowCustom: true
            }
          }
        ]
        style: 'pills'
        queryType: 0
        resourceType: 'microsoft.insights/components'
      }
      name: 'parameters'
    }
    {
      type: 3
      content: union(queryItemDefaults, {
        query: workbookQueries.summary
        title: 'Totals'
        visualization: 'table'
      })
      name: 'totals'
    }
    {
      type: 3
      content: union(queryItemDefaults, {
        query: workbookQueries.byOutcome
        title: 'Sign-ins per minute by outcome'
        visualization: 'timechart'
      })
      name: 'sign-ins-by-outcome'
    }
    {
      type: 3
      content: union(queryItemDefaults, {
        query: workbookQueries.failuresByCode
        title: 'Failures by code'
        visualization: 'barchart'
      })
      customWidth: '50'
      name: 'failures-by-code'
    }
    {
      type: 3
      content: union(queryItemDefaults, {
        query: workbookQueries.failuresByAadsts
        title: 'Failures by AADSTS code'
        visualization: 'table'
      })
      customWidth: '50'
      name: 'failures-by-aadsts'
    }
    {
      type: 3
      content: union(queryItemDefaults, {
        query: workbookQueries.idpRoundTrip
        title: 'IdP round trip (token call and Graph), ms: p50 and p95'
        visualization: 'timechart'
      })
      customWidth: '50'
      name: 'idp-round-trip'
    }
    {
      type: 3
      content: union(queryItemDefaults, {
        query: workbookQueries.callbackDuration
        title: 'Callback duration, ms: p50 and p95'
        visualization: 'timechart'
      })
      customWidth: '50'
      name: 'callback-duration'
    }
  ]
  fallbackResourceIds: [
    insights.id
  ]
  '$schema': 'https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json'
}

resource signInWorkbook 'Microsoft.Insights/workbooks@2023-06-01' = if (enableApplicationInsights) {
  // A workbook's resource name is a GUID; the portal shows displayName.
  name: guid(resourceGroup().id, appName, 'entra-sso sign-ins')
  location: location
  kind: 'shared'
  properties: {
    displayName: '${appName}: sign-ins'
    description: 'entra-sso sign-ins by outcome, failures by code and AADSTS, IdP round trip.'
    category: 'workbook'
    sourceId: insights.id
    serializedData: string(workbookContent)
    version: 'Notebook/1.0'
  }
}

// Alerts: log search rules on the Application Insights component, evaluated every 5 minutes.
// Each query returns a row only when its condition holds; a rule fires on any row.
var hasAlertEmail = enableApplicationInsights && !empty(alertEmail)

resource alertActionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (hasAlertEmail) {
  name: '${appName}-sign-in-alerts'
  location: 'global'
  properties: {
    groupShortName: 'entra-sso'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var alertActions = {
  actionGroups: hasAlertEmail ? [
    alertActionGroup.id
  ] : []
}

var alertRules = [
  {
    name: 'sign-in-failure-rate'
    displayName: '${appName}: sign-in failure rate above ${alertFailureRatePercent} %'
    description: 'More than ${alertFailureRatePercent} % of at least ${alertMinimumSignIns} sign-ins in 15 minutes ended in an error outcome. The workbook\'s failure tables name the codes.'
    severity: 2
    windowSize: 'PT15M'
    query: join(concat(signInEvents, [
      '| summarize sign_ins = count(), failures = countif(failed)'
      '| extend failure_percent = 100.0 * failures / sign_ins'
      '| where sign_ins >= ${alertMinimumSignIns} and failure_percent > ${alertFailureRatePercent}'
    ]), '\n')
  }
  {
    name: 'sign-in-idp-unavailable'
    displayName: '${appName}: identity provider unavailable'
    description: 'A sign-in ended in idp_unavailable: the identity provider\'s metadata or signing keys could not be fetched. No one can sign in while it lasts.'
    severity: 1
    windowSize: 'PT5M'
    query: join(concat(signInEvents, [
      '| where outcome == \'idp_unavailable\''
    ]), '\n')
  }
  {
    name: 'sign-in-token-exchange-failed'
    displayName: '${appName}: token exchange refused'
    description: 'A sign-in ended in token_exchange_failed: the token endpoint refused or failed the code redemption, most often over the client credential (an expired secret is AADSTS7000222, a wrong one AADSTS7000215). The alert\'s rows name the AADSTS code.'
    severity: 1
    windowSize: 'PT5M'
    query: join(concat(signInEvents, [
      '| where outcome == \'token_exchange_failed\''
      '| summarize failures = count() by aadsts, credential'
    ]), '\n')
  }
]

resource signInAlerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for rule in (enableApplicationInsights ? alertRules : []): {
  name: '${appName}-${rule.name}'
  location: location
  kind: 'LogAlert'
  properties: {
    displayName: rule.displayName
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [
      insights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: rule.windowSize
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: alertActions
  }
}]

// ---- Outputs --------------------------------------------------------------------------------

@description('Register as a Web redirect URI in the app registration.')
output callbackUrl string = callbackUrl

@description('Register as the front-channel logout URL in the app registration.')
output frontChannelLogoutUrl string = 'https://${app.properties.defaultHostName}/api/logout/frontchannel'

@description('Start a sign-in here.')
output loginUrl string = 'https://${app.properties.defaultHostName}/api/login?return_to=/api/me'

@description('managed-identity: the issuer of the app registration\'s federated credential.')
output federatedCredentialIssuer string = usesManagedIdentity ? '${environment().authentication.loginEndpoint}${subscription().tenantId}/v2.0' : ''

@description('managed-identity: the subject of the app registration\'s federated credential (the identity\'s object id).')
output federatedCredentialSubject string = usesManagedIdentity ? signInIdentity.properties.principalId : ''

@description('The sign-in workbook (Azure portal: Monitor, Workbooks; or the Application Insights resource, Workbooks).')
output workbookId string = enableApplicationInsights ? signInWorkbook.id : ''

output functionAppName string = app.name
output keyVaultName string = vault.name
