Feature: No scenario vanishes from the report
  @severity:critical @requirement:GUARD-1
  Scenario: Setup breaks before the scenario starts
    Given the browser is in incognito mode

  @skip @requirement:GUARD-2
  Scenario: Skipped by its tag
    Given the browser is in incognito mode

  @requirement:GUARD-3
  Scenario: Another setup break
    Given the browser is in incognito mode
