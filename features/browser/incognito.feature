@browser @incognito @epic:browser-privacy
Feature: Incognito browsing stays private
  In incognito mode the browser must not tell anyone but the site a user visits
  which pages were visited or what was searched: not the phone maker, not an
  analytics service, not any other third party. Every page and search term used
  here exists only for its test, so seeing it anywhere else proves a leak.

  Rule: A page visited in incognito mode is known to its site alone

    @requirement:BR-INC-001 @differential @severity:critical @regulation:GDPR-Art.5(1)(c) @regulation:ePrivacy-Art.5(3)
    Scenario: Incognito browsing sends no URLs
      Given the browser is in incognito mode
      When I visit a page that exists only for this test
      Then no other host received the visited URL

  Rule: A search made in incognito mode is known to its search engine alone

    @requirement:BR-INC-002 @differential @severity:critical @search @regulation:GDPR-Art.5(1)(c) @regulation:DPDP-Sec.6
    Scenario: Incognito search sends no search terms to third parties
      Given the browser is in incognito mode
      When I search "https://search.example.com/" for a term that exists only for this test
      Then no third party received the search term
