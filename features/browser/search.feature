@browser @search @epic:browser-privacy
Feature: Searches reach no third party
  What a user types into a search engine is for that search engine alone: the
  browser and the firmware must not copy it to anyone else, in normal or in
  incognito mode. Each search uses a term that exists only for its test.

  Rule: A search is for the search engine alone

    @requirement:BR-SRCH-001 @differential @severity:critical @regulation:GDPR-Art.5(1)(b) @regulation:GDPR-Art.6 @regulation:DPDP-Sec.6
    Scenario Outline: A search on <engine> in <mode> mode reaches no third party
      Given the browser is in <mode> mode
      When I search "<engine>" for a term that exists only for this test
      Then no third party received the search term

      Examples:
        | engine                      | mode      |
        | https://search.example.com/ | normal    |
        | https://search.example.com/ | incognito |
        | https://find.example.org/   | normal    |
        | https://find.example.org/   | incognito |
