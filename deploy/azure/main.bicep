// entra-sso on Azure Functions: a Linux Consumption function app running the `entra-sso` custom
// handler, its storage account, optional Application Insights, and a Key Vault holding
// SSO_SECRET and SSO_CLIENT_SECRET, which the app reads through Key Vault references with its
// system-assigned managed identity (role "Key Vault Secrets User" on the vault).
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

output functionAppName string = app.name
output keyVaultName string = vault.name
