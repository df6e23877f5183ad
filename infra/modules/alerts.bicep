// Scheduled query alerts on the Application Insights component, and one action group that
// e-mails them. Each alert's query lives in infra/monitoring/alerts/<name>.kql (checked offline
// by the test suite); docs/operations.md lists them with what to do when each fires.

param location string
param tags object = {}
param applicationInsightsId string
param resourceToken string
@description('Where alerts are e-mailed; empty: the alerts fire in the portal only.')
param alertEmail string = ''
@description('Failed syntheses ÷ all syntheses over 15 minutes above which to alert.')
param ttsFailureRateThreshold string = '0.2'
@description('Cache size (MB, from the hourly cleanup) above which to alert.')
param cacheSizeMbThreshold int = 5000
@description('Hit ratio over a day (at least 50 auditions) below which to alert.')
param hitRatioThreshold string = '0.3'
@description('Auditions answered BYPASS ÷ all answered, over 15 minutes (at least 20), above which to alert.')
param bypassRatioThreshold string = '0.2'

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'khipucache'
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// name, severity (0 critical … 4 verbose), the query's measured column, how it is compared,
// the window and how often it is evaluated, and how many of the last periods must fail.
var alerts = [
  {
    name: 'tts-failure-rate'
    description: 'Azure Speech syntheses failing above the threshold (tts_synthesis_failures ÷ all syntheses).'
    severity: 2
    query: loadTextContent('../monitoring/alerts/tts-failure-rate.kql')
    column: 'failure_rate'
    operator: 'GreaterThan'
    threshold: json(ttsFailureRateThreshold)
    window: 'PT15M'
    frequency: 'PT5M'
    periods: 1
  }
  {
    name: 'tts-throttled'
    description: 'Auditions answered 503 tts-throttled for 15 minutes in a row: the speech key is at its rate limit.'
    severity: 2
    query: loadTextContent('../monitoring/alerts/tts-throttled.kql')
    column: 'throttled'
    operator: 'GreaterThan'
    threshold: 0
    window: 'PT5M'
    frequency: 'PT5M'
    periods: 3
  }
  {
    name: 'server-errors'
    description: 'Any 5xx answered by the Function App.'
    severity: 1
    query: loadTextContent('../monitoring/alerts/server-errors.kql')
    column: 'errors'
    operator: 'GreaterThan'
    threshold: 0
    window: 'PT5M'
    frequency: 'PT5M'
    periods: 1
  }
  {
    name: 'cache-bypass'
    description: 'Auditions answered uncached (BYPASS) above the threshold: the database or Blob Storage is failing or hanging.'
    severity: 2
    query: loadTextContent('../monitoring/alerts/cache-bypass.kql')
    column: 'bypass_ratio'
    operator: 'GreaterThan'
    threshold: json(bypassRatioThreshold)
    window: 'PT15M'
    frequency: 'PT5M'
    periods: 1
  }
  {
    name: 'cleanup-stopped'
    description: 'No cleanup stats line for 2 hours: the hourly timer is not running (or every pass fails).'
    severity: 2
    query: loadTextContent('../monitoring/alerts/cleanup-stopped.kql')
    column: 'passes'
    operator: 'LessThan'
    threshold: 1
    window: 'PT2H'
    frequency: 'PT1H'
    periods: 1
  }
  {
    name: 'cache-size'
    description: 'The cache (as the last cleanup pass counted it) is larger than the threshold.'
    severity: 3
    query: loadTextContent('../monitoring/alerts/cache-size.kql')
    column: 'size_mb'
    operator: 'GreaterThan'
    threshold: cacheSizeMbThreshold
    window: 'PT2H'
    frequency: 'PT1H'
    periods: 1
  }
  {
    name: 'hit-ratio'
    description: 'The day\'s hit ratio (at least 50 auditions) is below the threshold.'
    severity: 3
    query: loadTextContent('../monitoring/alerts/hit-ratio.kql')
    column: 'hit_ratio'
    operator: 'LessThan'
    threshold: json(hitRatioThreshold)
    window: 'P1D'
    frequency: 'PT1H'
    periods: 1
  }
]

resource rules 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = [
  for alert in alerts: {
    name: 'alert-${alert.name}-${resourceToken}'
    location: location
    tags: tags
    properties: {
      displayName: 'Khipu audition cache: ${alert.name}'
      description: alert.description
      severity: alert.severity
      enabled: true
      scopes: [
        applicationInsightsId
      ]
      evaluationFrequency: alert.frequency
      windowSize: alert.window
      criteria: {
        allOf: [
          {
            query: alert.query
            timeAggregation: 'Maximum'
            metricMeasureColumn: alert.column
            operator: alert.operator
            threshold: alert.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: alert.periods
              minFailingPeriodsToAlert: alert.periods
            }
          }
        ]
      }
      autoMitigate: true
      actions: {
        actionGroups: empty(alertEmail) ? [] : [
          actionGroup!.id
        ]
      }
    }
  }
]

output names array = [for (alert, i) in alerts: rules[i].name]
